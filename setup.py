"""Build step: compile the gettext catalogs into the package.

``app/locales/<lang>/LC_MESSAGES/<domain>.po`` → ``<domain>.mo`` beside it, with Babel (a
build requirement), as ``pybabel compile -d app/locales`` does. A wheel gets the compiled files
in its build directory; an editable install gets them in place, in the source tree. A catalog
that is marked fuzzy, or that Babel finds errors in, stops the build.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import Command, setup
from setuptools.command.build import build
from setuptools.errors import SetupError

LOCALES = Path("app", "locales")


class build_catalogs(Command):  # noqa: N801 (setuptools commands are named like this)
    description = "compile the gettext catalogs (.po) into .mo files"
    user_options: list[tuple[str, str | None, str]] = []  # noqa: RUF012 (setuptools' interface)

    def initialize_options(self) -> None:
        self.build_lib: str | None = None
        self.editable_mode = False

    def finalize_options(self) -> None:
        self.set_undefined_options("build_py", ("build_lib", "build_lib"))

    def _sources(self) -> list[Path]:
        return sorted(LOCALES.glob("*/LC_MESSAGES/*.po"))

    def _target(self, source: Path) -> Path:
        compiled = source.with_suffix(".mo")
        return compiled if self.editable_mode else Path(str(self.build_lib), compiled)

    def run(self) -> None:
        from babel.messages.mofile import write_mo  # noqa: PLC0415 (a build requirement)
        from babel.messages.pofile import read_po  # noqa: PLC0415

        for source in self._sources():
            with source.open("rb") as fh:
                catalog = read_po(fh, domain=source.stem)
            if catalog.fuzzy:
                raise SetupError(f"{source}: the catalog is marked fuzzy; review it first")
            problems = [
                f"{message.id!r}: {error}"
                for message, errors in catalog.check()
                for error in errors
            ]
            if problems:
                raise SetupError(f"{source}: " + "; ".join(problems))
            target = self._target(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as fh:
                write_mo(fh, catalog, use_fuzzy=False)

    def get_source_files(self) -> list[str]:
        return [str(source) for source in self._sources()]

    def get_outputs(self) -> list[str]:
        return [str(Path(str(self.build_lib), s.with_suffix(".mo"))) for s in self._sources()]

    def get_output_mapping(self) -> dict[str, str]:
        if not self.editable_mode:
            return {}
        return {
            str(Path(str(self.build_lib), s.with_suffix(".mo"))): str(s.with_suffix(".mo"))
            for s in self._sources()
        }


class build_with_catalogs(build):  # noqa: N801
    sub_commands = [*build.sub_commands, ("build_catalogs", None)]  # noqa: RUF012


setup(cmdclass={"build": build_with_catalogs, "build_catalogs": build_catalogs})
