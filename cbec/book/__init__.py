"""The book build: papermill runner (:mod:`cbec.book.runner`), the output manifest (data, one
CSV per chapter in ``manifest/``) and the HTML build.

Only the command line (:mod:`cbec.__main__`) and the tests import this subpackage.
"""
