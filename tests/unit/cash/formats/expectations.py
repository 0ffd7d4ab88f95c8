"""Expected outcomes of importing the third-party bank samples, kept here so a regression shows.

EXPECTED_REFUSALS: sample -> start of the `StatementError` reason. They are tag fragments from
parser unit tests (no `:20:`/`:25:`), deliberately broken files (balances written without their
currency; ofxparse's `fail_nice` files with a transaction without a date or with "$120" as its
amount), OFX sign-on / account list / investment responses (not bank accounts). Off-spec OFX whose
meaning is clear (blank lines around the header, a 10-digit BANKID, empty tags) is read, with the
repairs named in the report.

KNOWN_MISMATCHES: sample -> {statement index: closing - (opening + movements)} for statements
whose own balances do not add up. Evidence that the difference is in the sample and not a lost
movement: `test_no_movement_is_lost` checks that every `:61:` tag (MT940) or `<Ntry>` (camt) of
each such file became a line, so the parsed movements are exactly the ones the file lists.
Intermediate balances (`:62M:`/`:60M:`) are checked too, page by page: PostFinance's second page
adds up to 159.4 where it states 159.6; Knab `sample` appends a 2016 booking of 96.84 after the
movements that lead to its 945.21; Knab `sample3` and Deutsche Bank book a credit between two equal
balances. Examples checked by hand: zilverline `ing.txt` lists -25.03 where the same statement in
fruitl00p `Ing/sample` lists +25.03 (2 x 25.03 = 50.06, the difference); `knab_pin.txt`
books D1010 between C0 and C1010 (difference 2020); the ABN samples book C10,5 between 10000,00
and 10010,00 (-0.50); the genkgo camt fixtures state an OPBD of 18.15 EUR and a CLBD of 27.00
in SEK, debit (the oracle README: "balances do not always add up").
"""

from __future__ import annotations

EXPECTED_REFUSALS = {
    "WoLpH-mt940/mt940_tests/betterplace/amount_formats.sta": "no MT940 statement: no :20: transaction refer",
    "WoLpH-mt940/mt940_tests/betterplace/currency_in_25.sta": "no MT940 statement: no :20: transaction refer",
    "WoLpH-mt940/mt940_tests/betterplace/empty_86.sta": "no MT940 statement: no :20: transaction refer",
    "WoLpH-mt940/mt940_tests/betterplace/empty_entry_date.sta": "no MT940 statement: no :20: transaction refer",
    "WoLpH-mt940/mt940_tests/betterplace/empty_line.sta": "statement 1 has no :25: account identificatio",
    "WoLpH-mt940/mt940_tests/betterplace/missing_crlf_at_end.sta": "no MT940 statement: no :20: transaction refer",
    "WoLpH-mt940/mt940_tests/betterplace/sepa_snippet_broken.sta": "statement 1 has 2 different :25: accounts",
    "WoLpH-mt940/mt940_tests/cmxl/account_balance_credit.sta": "no MT940 statement: no :20: transaction refer",
    "WoLpH-mt940/mt940_tests/cmxl/account_balance_debit.sta": "no MT940 statement: no :20: transaction refer",
    "WoLpH-mt940/mt940_tests/cmxl/account_identification_iban.sta": "no MT940 statement: no :20: transaction refer",
    "WoLpH-mt940/mt940_tests/cmxl/account_identification_legacy.sta": "no MT940 statement: no :20: transaction refer",
    "WoLpH-mt940/mt940_tests/cmxl/available_balance.sta": "no MT940 statement: no :20: transaction refer",
    "WoLpH-mt940/mt940_tests/cmxl/closing_balance.sta": "no MT940 statement: no :20: transaction refer",
    "WoLpH-mt940/mt940_tests/cmxl/reference.sta": "statement 1 has no :25: account identificatio",
    "WoLpH-mt940/mt940_tests/cmxl/statement_details.sta": "no MT940 statement: no :20: transaction refer",
    "WoLpH-mt940/mt940_tests/cmxl/statement_line.sta": "no MT940 statement: no :20: transaction refer",
    "WoLpH-mt940/mt940_tests/cmxl/statement_number.sta": "no MT940 statement: no :20: transaction refer",
    "WoLpH-mt940/mt940_tests/self-provided/empty_non_swift.sta": "no MT940 statement: no :20: transaction refer",
    "WoLpH-mt940/mt940_tests/self-provided/invalid_statement.sta": "no MT940 statement: no :20: transaction refer",
    "WoLpH-mt940/mt940_tests/self-provided/raphaelm.sta": "statement 1: :62: balance names no valid currency",
    "WoLpH-mt940/mt940_tests/self-provided/sparkassen.sta": "no MT940 statement: no :20: transaction refer",
    "fruitl00p-php-mt940/test/Parser/Banking/Mt940/Engine/Rabo/sample2": "statement 2 has no :25: account identificatio",
    "genkgo-camt/test/data/camt053.v2.wrong.xml": "camt.053 message holds no <Stmt> record",
    "jseutter-ofxparse/tests/fixtures/account_listing_aggregation.ofx": "OFX holds no statement (a sign-on or account ",
    "jseutter-ofxparse/tests/fixtures/bank_small.ofx": "OFX holds no statement (a sign-on or account ",
    "jseutter-ofxparse/tests/fixtures/error_message.ofx": "OFX holds no statement (a sign-on or account ",
    "jseutter-ofxparse/tests/fixtures/fail_nice/date_missing.ofx": "statement 1 transaction 1 (FITID 184997056): no ",
    "jseutter-ofxparse/tests/fixtures/fail_nice/decimal_error.ofx": "statement 1 transaction 1 (FITID 2000957249) D",
    "jseutter-ofxparse/tests/fixtures/fidelity-savings.ofx": "OFX holds an investment statement (INVSTMTRS)",
    "jseutter-ofxparse/tests/fixtures/fidelity.ofx": "OFX holds an investment statement (INVSTMTRS)",
    "jseutter-ofxparse/tests/fixtures/investment_401k.ofx": "OFX holds an investment statement (INVSTMTRS)",
    "jseutter-ofxparse/tests/fixtures/investment_medium.ofx": "OFX holds an investment statement (INVSTMTRS)",
    "jseutter-ofxparse/tests/fixtures/signon_fail.ofx": "OFX holds no statement (a sign-on or account ",
    "jseutter-ofxparse/tests/fixtures/signon_success.ofx": "OFX holds no statement (a sign-on or account ",
    "jseutter-ofxparse/tests/fixtures/signon_success_no_message.ofx": "OFX holds no statement (a sign-on or account ",
    "jseutter-ofxparse/tests/fixtures/td_ameritrade.ofx": "OFX holds an investment statement (INVSTMTRS)",
    "jseutter-ofxparse/tests/fixtures/tiaacref.ofx": "OFX holds an investment statement (INVSTMTRS)",
    "jseutter-ofxparse/tests/fixtures/vanguard.ofx": "OFX holds an investment statement (INVSTMTRS)",
    "jseutter-ofxparse/tests/fixtures/vanguard401k.ofx": "OFX holds an investment statement (INVSTMTRS)",
}
KNOWN_MISMATCHES = {
    "WoLpH-mt940/mt940_tests/betterplace/sepa_snippet.sta": {1: "300.08"},
    "WoLpH-mt940/mt940_tests/jejik/abnamro.sta": {0: "-2038.00", 1: "-1002.60"},
    "WoLpH-mt940/mt940_tests/jejik/ing.sta": {0: "49.06"},
    "WoLpH-mt940/mt940_tests/jejik/knab.sta": {1: "4500.00"},
    "WoLpH-mt940/mt940_tests/jejik/postfinance.sta": {0: "0.2"},
    "WoLpH-mt940/mt940_tests/jejik/rabobank.sta": {0: "1135.93", 2: "236.56"},
    "WoLpH-mt940/mt940_tests/jejik/triodos.sta": {0: "111.40"},
    "WoLpH-mt940/mt940_tests/mBank/with_newline_in_tnr.sta": {0: "770.71"},
    "WoLpH-mt940/mt940_tests/self-provided/details_60-63.sta": {0: "234.01"},
    "WoLpH-mt940/mt940_tests/self-provided/malformed_details.sta": {0: "234.01"},
    "WoLpH-mt940/mt940_tests/self-provided/overly_long_details.sta": {0: "234.01"},
    "WoLpH-mt940/mt940_tests/self-provided/raiffeisen-cmi.sta": {0: "1123264.00"},
    "WoLpH-mt940/mt940_tests/self-provided/whitespace.sta": {0: "234.01"},
    "fruitl00p-php-mt940/test/Parser/Banking/Mt940/Engine/Abn/sample2": {0: "601.50"},
    "fruitl00p-php-mt940/test/Parser/Banking/Mt940/Engine/Hsbc/sample": {0: "20000.00"},
    "fruitl00p-php-mt940/test/Parser/Banking/Mt940/Engine/Ing/sample": {0: "-3.68"},
    "fruitl00p-php-mt940/test/Parser/Banking/Mt940/Engine/Knab/sample": {0: "96.84"},
    "fruitl00p-php-mt940/test/Parser/Banking/Mt940/Engine/Knab/sample3": {0: "-100000.00"},
    "fruitl00p-php-mt940/test/Parser/Banking/Mt940/Engine/Rabo/sample": {
        0: "2145.00",
        3: "20000.00",
        4: "-100.00",
        5: "-634.00",
        6: "10500.00",
        7: "-400.00",
        8: "400.00",
        9: "-3550.00",
        12: "482.41",
        13: "164800.00",
        14: "-164592.31",
        15: "8703.39",
        16: "18056.24",
        17: "-87764.76",
        18: "-21345.10",
        19: "60914.51",
        20: "-38727.71",
        21: "368493.56",
        22: "380467.01",
        23: "319629.50",
        24: "-115351",
        25: "115361",
        26: "-1153328",
        27: "1500.00",
        30: "-65499.34",
        31: "1245.00",
        32: "-1245.00",
        33: "2545.00",
        36: "5500.00",
    },
    "fruitl00p-php-mt940/test/Parser/Banking/Mt940/Engine/Rabo/sample3": {0: "-345.16", 1: "-384.75"},
    "fruitl00p-php-mt940/test/Parser/Banking/Mt940/Engine/Rabo/sample4": {0: "19477.78"},
    "genkgo-camt/test/data/camt053.v2.all-balance-types.xml": {0: "-5.820"},
    "genkgo-camt/test/data/camt053.v2.five.decimals.xml": {0: "0.050"},
    "genkgo-camt/test/data/camt053.v2.minimal.ultimate.xml": {0: "-54.00"},
    "genkgo-camt/test/data/camt053.v2.minimal.xml": {0: "-54.00"},
    "genkgo-camt/test/data/camt053.v2.with-party-ids.xml": {0: "-54.00"},
    "genkgo-camt/test/data/camt053.v3.xml": {0: "-54.00"},
    "genkgo-camt/test/data/camt053.v4.xml": {0: "-54.00"},
    "genkgo-camt/test/data/camt053.v8.xml": {0: "-54.00"},
    "zilverline-mt940/spec/fixtures/14aug2014.swi": {0: "471.87"},
    "zilverline-mt940/spec/fixtures/abn/abn_sepa_incasso_doorlopend.txt": {0: "-0.50"},
    "zilverline-mt940/spec/fixtures/deutsche_bank.txt": {0: "1.87"},
    "zilverline-mt940/spec/fixtures/abn/abn_sepa_overboeking.txt": {0: "-0.50"},
    "zilverline-mt940/spec/fixtures/abn/abn_sepa_periodieke_overboeking.txt": {0: "-0.50"},
    "zilverline-mt940/spec/fixtures/abn/abn_structured_sepa_acceptgiro.txt": {0: "-0.50"},
    "zilverline-mt940/spec/fixtures/abn/abn_structured_sepa_ideal.txt": {0: "-0.50"},
    "zilverline-mt940/spec/fixtures/abn/abn_structured_sepa_overboeking.txt": {0: "-0.50"},
    "zilverline-mt940/spec/fixtures/abn/abnamro.txt": {0: "-2038.00", 1: "-1002.60"},
    "zilverline-mt940/spec/fixtures/abn/abnamro_structured.txt": {0: "5.1", 1: "-8.0"},
    "zilverline-mt940/spec/fixtures/abn/anb_sepa_overboeking_belastingdienst.txt": {0: "86000.00"},
    "zilverline-mt940/spec/fixtures/import-16-06-2014.txt": {0: "16355.61"},
    "zilverline-mt940/spec/fixtures/ing/eu_incasso_foreign_transaction.txt": {0: "0.97"},
    "zilverline-mt940/spec/fixtures/ing.txt": {0: "50.06"},
    "zilverline-mt940/spec/fixtures/ing_structured.txt": {0: "6716.00"},
    "zilverline-mt940/spec/fixtures/knab/knab_pin.txt": {0: "2020"},
    "zilverline-mt940/spec/fixtures/rabobank_mt940_structured_multi_line.txt": {0: "200.01"},
    "zilverline-mt940/spec/fixtures/triodos.txt": {0: "111.40"},
    "zilverline-mt940/spec/fixtures/triodos_multiline_bug.txt": {0: "-556.18"},
    "zilverline-mt940/spec/fixtures/unknown.txt": {0: "50.06"},
}
