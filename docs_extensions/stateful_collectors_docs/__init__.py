"""The guide's build-time additions, which MkDocs and Zensical both load from mkdocs.yml.

* `diagrams`: the ```diagram fence (a pymdownx.superfences custom fence), drawn as
  inline SVG;
* `downloads`: the library's wheel and `tutorial.tar.gz`, written under
  `docs/downloads/` while mkdocs.yml is read, before either build collects files.

Neither build offers Zensical a plugin or a hook; both run Python-Markdown and read
mkdocs.yml with PyYAML, so this is where the site's own code plugs in.
How the site is built: docs/about/writing-pages.md, "Building the site".
"""
