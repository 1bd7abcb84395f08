"""Sphinx configuration for the skmollal documentation.

Build (part of ``make test``; warnings are errors)::

    .venv/bin/python -m sphinx -W --keep-going -q -b html docs docs/_build/html

Pages are Markdown (MyST) except the API index (reStructuredText, for autosummary). Every
public estimator gets a page generated from its numpydoc docstring; numpydoc validation
turns a broken docstring into a warning, hence a failed build.
"""
from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))
# Documentation builds must never reach the Hugging Face hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import skmollal  # noqa: E402

# autosummary writes one page per API entry into api/generated/; start from scratch so a
# renamed or removed name cannot leave a stale page behind.
import shutil  # noqa: E402

shutil.rmtree(DOCS / "api" / "generated", ignore_errors=True)

# -- Project ---------------------------------------------------------------------------------
project = "skmollal"
author = "skmollal developers"
copyright = "skmollal developers, BSD-3-Clause"
release = skmollal.__version__
version = ".".join(release.split(".")[:2])

# -- General ---------------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "benchtables",  # docs/_ext/benchtables.py: tables from committed benchmark JSON
]
templates_path = ["_templates"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "**/.pytest_cache", "examples/README.md", "benchmarks/results"]
language = "en"
# Every cross-reference to skmollal must resolve (a dead link in a docstring or page fails
# the build); references to other projects (numpy, scikit-learn, ...) may stay plain text,
# as no intersphinx inventory can be fetched offline.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"^(?!~?skmollal\b).*"),
    # private helpers (e.g. a private base class shown by :show-inheritance:) have no page
    (r"py:.*", r"^~?skmollal(\.\w+)*\._\w+.*"),
]

# -- autodoc / autosummary -------------------------------------------------------------------
autosummary_generate = True
autosummary_generate_overwrite = True
# Parameters are documented in numpydoc sections; keep signatures readable.
autodoc_typehints = "none"
autodoc_member_order = "groupwise"
autodoc_inherit_docstrings = True

# -- numpydoc --------------------------------------------------------------------------------
numpydoc_show_class_members = False  # autodoc's :members: lists them on the page
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False
# Which docstring problems fail the build (checked by ``_validate_docstring`` below with
# numpydoc's validator). These are the ones that make a page wrong or unreadable, not style
# nits:
#   GL06 unknown section, GL08 no docstring, GL10 reST directive missing "::",
#   SS01 no summary line, PR01 parameter not documented, PR02 documented parameter that
#   does not exist, PR03 parameters documented in the wrong order, PR10 "name: type"
#   without the space numpydoc needs to parse it.
# PR01 does not require ``*args`` / ``**kwargs`` entries (where they go is usually said in
# prose). Methods (``module.Class.method``) and exceptions are checked without PR01 / GL08: their
# parameters are mostly scikit-learn's conventional X / y, but a documented parameter that
# does not exist, an unknown section or a malformed parameter line still fails the build.
numpydoc_validation_checks = set()  # numpydoc's own pass is replaced by the hook below
DOCSTRING_CHECKS = {"GL06", "GL08", "GL10", "SS01", "PR01", "PR02", "PR03", "PR10"}
METHOD_CHECKS = DOCSTRING_CHECKS - {"PR01", "GL08"}
DOCSTRING_CHECK_EXCLUDE = [
    # ``Annotator`` is a typing.Protocol: its signature is typing's ``(*args, **kwargs)``.
    r"^skmollal\.annotators\.Annotator$",
]


def _validate_docstring(app, what, name, obj, options, lines):
    """Fail the build (a warning under -W) on the docstring problems listed above."""
    if what not in ("class", "function", "method", "exception"):
        return
    if any(re.search(pattern, name) for pattern in DOCSTRING_CHECK_EXCLUDE):
        return
    from numpydoc.docscrape import get_doc_object
    from numpydoc.validate import Validator, validate
    from sphinx.util import logging as sphinx_logging

    # Exceptions are raised by the library and caught by users: their constructor
    # arguments are not user-facing, so they get the method checks too.
    checks = METHOD_CHECKS if what in ("method", "exception") else DOCSTRING_CHECKS
    try:
        report = validate(name)
    except (ImportError, AttributeError):  # not importable by that name: nothing to check
        return
    except Exception as exc:  # noqa: BLE001 - e.g. a source file numpydoc cannot tokenize
        sphinx_logging.getLogger("numpydoc").warning(
            "[numpydoc] could not validate the docstring of %r: %s", name, exc
        )
        return
    errors = []
    for code, message in report["errors"]:
        if code not in checks:
            continue
        if code == "PR01":
            doc = Validator(get_doc_object(Validator._load_obj(name)))
            documented = {p.replace("\\", "") for p in doc.doc_all_parameters}
            missing = [
                p for p in doc.signature_parameters
                if p not in documented and not p.startswith("*")
            ]
            if not missing:
                continue
            message = f"Parameters {missing} not documented"
        errors.append(f"  {code}: {message}")
    if errors:
        sphinx_logging.getLogger("numpydoc").warning(
            "[numpydoc] docstring of %r:\n%s", name, "\n".join(errors)
        )


def _skip_member(app, what, name, obj, skip, options):
    """Hide scikit-learn's generated metadata-routing setters (``set_fit_request``...)."""
    if re.fullmatch(r"set_\w+_request", name):
        return True
    return None


def _import_dotted(path: str):
    """Import ``a.b.C.d`` as far as it goes; None when it does not resolve."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _resolve_alias(app, env, node, contnode):
    """Resolve ``skmollal.X``, ``skmollal.module.X`` etc. to where X is documented.

    An object is documented once, under the name the API index gives it; docstrings and
    pages may refer to it by any public path that imports to the same object. A reference
    to a class or function that is documented nowhere, or to a name that does not exist,
    stays unresolved and fails the build; an existing module constant without a page is
    shown as plain code.
    """
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    candidates = [target]
    if node.get("py:module") and not target.startswith("skmollal"):
        candidates.insert(0, f"{node['py:module']}.{target}")
    domain = env.get_domain("py")
    documented = {}
    for name in domain.objects:
        if name.startswith("skmollal"):
            obj = _import_dotted(name)
            if obj is not None:
                documented.setdefault(id(obj), name)
    for candidate in candidates:
        if not candidate.startswith("skmollal"):
            continue
        obj = _import_dotted(candidate)
        if obj is None:
            continue
        if id(obj) not in documented:
            if node["reftype"] in ("data", "attr", "const", "obj"):
                # a module constant that exists but has no page: plain text, not an error
                return contnode
            continue
        return domain.resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], documented[id(obj)], node,
            contnode,
        )
    return None


def setup(app):
    """Register the docstring validator, the member filter and the alias resolver."""
    app.connect("autodoc-process-docstring", _validate_docstring, priority=400)
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("missing-reference", _resolve_alias)


# -- MyST ------------------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3

# -- HTML ------------------------------------------------------------------------------------
html_theme = "alabaster"
html_title = f"skmollal {release}"
html_static_path = []
html_theme_options = {
    "description": "Mixture of LLMs in the Loop Active Learning, scikit-learn style",
    "fixed_sidebar": True,
    "show_relbars": True,
}
html_show_sourcelink = False
