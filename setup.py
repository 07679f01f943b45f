"""Builds the optional compiled hot-path helpers (Cython); everything else is in pyproject.toml.

Without a C compiler the build still succeeds (``optional=True``) and the gateway runs its
pure-Python twins (``gateway/core/frames.py``, ``gateway/core/hot.py`` and
``gateway/upstream/hot_listener.py`` pick whichever is there; ``VOICE_GATEWAY_PURE_PYTHON=1`` forces
the pure ones). The listener (``gateway/upstream/hotlisten.pyx``) is compiled against picows' own
declarations (``picows.pxd``), so picows is a build requirement; the version it was built with is
recorded in the module, and the gateway uses the pure listener under any other picows.
"""

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError:  # an install without the build requirements: pure Python only
    extensions = []
else:
    try:
        import picows
    except ImportError:
        listener = []
    else:
        listener = [Extension(
            "gateway.upstream.hotlisten", ["gateway/upstream/hotlisten.pyx"], optional=True,
            define_macros=[("PICOWS_VERSION", '"%s"' % picows.__version__)],
        )]
    extensions = cythonize(
        [
            Extension("gateway.core.b64span", ["gateway/core/b64span.pyx"], optional=True),
            Extension("gateway.core.hotgate", ["gateway/core/hotgate.pyx"], optional=True,
                      include_dirs=["gateway/core"], depends=["gateway/core/b64_alphabet.h"]),
            *listener,
        ],
        compiler_directives={"language_level": 3},
        quiet=True,
    )

setup(ext_modules=extensions)
