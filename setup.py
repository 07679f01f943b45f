"""Builds the optional compiled hot-path helpers (Cython); everything else is in pyproject.toml.

Without a C compiler the build still succeeds (``optional=True``) and the gateway runs its
pure-Python twins (``gateway/core/frames.py`` picks whichever is there; ``VOICE_GATEWAY_PURE_PYTHON=1``
forces the pure one).
"""

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError:  # an install without the build requirements: pure Python only
    extensions = []
else:
    extensions = cythonize(
        [Extension("gateway.core.b64span", ["gateway/core/b64span.pyx"], optional=True)],
        compiler_directives={"language_level": 3},
        quiet=True,
    )

setup(ext_modules=extensions)
