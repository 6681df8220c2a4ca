import pytest


@pytest.fixture(scope="session")
def tokenizer():
    from kasuhara.nlp.tokens import Tokenizer

    return Tokenizer()


@pytest.fixture(scope="session")
def engine():
    """The shipped model, loaded once for the session."""
    from kasuhara.models.engine import Engine

    return Engine.load()
