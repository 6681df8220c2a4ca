"""Japanese text processing for kasuhara: pure functions and small types.

Flow: original text -> :func:`mail.parse` (which parts are the customer's new words)
-> :func:`normalize.normalize` (NFKC, width, repeats, de-obfuscation, with an offset map back to
the original) -> :mod:`sentences` and :mod:`tokens` (fugashi) -> optional :mod:`deep` (GiNZA
cascade). Nothing here returns a spaCy or fugashi object.
"""
