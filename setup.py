"""Setuptools shim: metadata lives in setup.cfg; the build also ships the repository's
`tensorboard_configs/` and `flags/` inside the package (as `invariant_reps/_resources/`), so a
wheel installed anywhere finds its TensorBoard layout and bundled flagfiles (`--experiment=NAME`)."""

import os
import shutil

import setuptools
from setuptools.command.build_py import build_py

RESOURCE_DIRS = ("tensorboard_configs", "flags")


class BuildWithResources(build_py):
    """`build_py` that also copies the resource folders into `invariant_reps/_resources/`."""

    def run(self):
        super().run()
        root = os.path.dirname(os.path.abspath(__file__))
        for name in RESOURCE_DIRS:
            source = os.path.join(root, name)
            target = os.path.join(self.build_lib, "invariant_reps", "_resources", name)
            if os.path.isdir(source):
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(source, target)


setuptools.setup(cmdclass={"build_py": BuildWithResources})
