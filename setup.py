"""The optional compiled hot path (issue 17): ``market_making_bot.feed._hotpath``, a CPython C extension.

Everything else is in pyproject.toml. ``optional=True``: without a C compiler (or Python headers) the install goes on
with the pure-Python path, which is the reference implementation anyway. setuptools reports a failed optional build
through its log only, which pip hides; :class:`BuildExt` says so again as a Python warning, which pip prints (the
README promises that an install without a compiler says so). ``.ci/run`` installs once with no compiler (Python
3.12: ``CC`` names a command that does not exist, which fails exactly as a missing ``gcc`` does)."""

import warnings

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import BaseError, CCompilerError


class BuildExt(build_ext):
    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except (CCompilerError, BaseError) as exc:  # what distutils' optional-extension filter catches
            if not ext.optional:
                raise
            warnings.warn(
                f"the compiled hot path ({ext.name}) was not built: {exc}. The install goes on with the pure-Python "
                "path (the same results, slower); install a C compiler and the Python headers, then reinstall, "
                "for the compiled one.",
                stacklevel=1,
            )
            raise


setup(
    cmdclass={"build_ext": BuildExt},
    ext_modules=[
        Extension(
            "market_making_bot.feed._hotpath",
            ["market_making_bot/feed/_hotpath.c"],
            depends=["market_making_bot/feed/_hotpath_private.h"],  # included by _hotpath.c: a change rebuilds it
            optional=True,
            extra_compile_args=["-O2"],
        )
    ],
)
