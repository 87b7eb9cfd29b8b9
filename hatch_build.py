"""Build hook: compiles the GTFS-RT TripUpdates reader (a Cython module) into the package.

It runs for the wheel and for the editable install alike, and writes the extension next to its
source in ``src/poche_api/transport/``, where both find it. It needs a C compiler and the Python
headers (``gcc`` and ``libc6-dev`` on Debian; the python images carry the headers).
"""

import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

EXTENSION = "poche_api.transport._tripupdates"


class NativeReader(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        from Cython.Build import cythonize
        from setuptools import Distribution, Extension
        from setuptools.command.build_ext import build_ext

        source = Path(self.root, "src", *EXTENSION.split(".")).with_suffix(".pyx")
        extensions = cythonize(
            [Extension(EXTENSION, [str(source)], extra_compile_args=["-O2", "-g0"])],
            compiler_directives={"language_level": "3"},
            quiet=True,
        )
        command = build_ext(Distribution({"ext_modules": extensions, "package_dir": {"": "src"}}))
        command.inplace = True
        with tempfile.TemporaryDirectory() as objects:
            command.build_temp = command.build_lib = objects
            command.ensure_finalized()
            command.run()
        built = Path(command.get_ext_fullpath(EXTENSION))
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if self.target_name == "wheel" and version != "editable":
            build_data["force_include"][str(built)] = built.relative_to(
                self.root / Path("src")
            ).as_posix()
