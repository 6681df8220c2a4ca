"""kasuhara: screening Japanese customer messages for customer harassment (カスタマーハラスメント).

The code lives in the sibling folders ``nlp/``, ``models/``, ``training/`` and ``service/``,
installed as ``kasuhara.nlp``, ``kasuhara.models``, ``kasuhara.training`` and
``kasuhara.service``.
"""
__version__ = "0.1.0"
