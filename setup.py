"""The optional compiled hot path (issue 17): ``market_making_bot.feed._hotpath``, a CPython C extension.

Everything else is in pyproject.toml. ``optional=True``: without a C compiler (or Python headers) the build prints a
warning and the install goes on with the pure-Python path, which is the reference implementation anyway."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "market_making_bot.feed._hotpath",
            ["market_making_bot/feed/_hotpath.c"],
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)
