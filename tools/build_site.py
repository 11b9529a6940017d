"""Build the course as a static, offline website from the executed notebooks.

    python tools/build_site.py [--out _site] [--notebooks notebooks] [--force]

Every notebook's stored outputs are re-rendered, never re-executed: nbconvert's HTML exporter with
a small template (tools/site_template/adalora_site) that extends JupyterLab's look and replaces every
asset nbconvert would load from a CDN. What the template cannot do is done here, on an in-memory
copy of each notebook (the files in notebooks/ are only read):

- plotly figures (`application/vnd.plotly.v1+json`) become a div and a `Plotly.newPlot` call with
  the stored JSON; plotly.js is copied once into _static/ from the installed plotly package;
- live widgets (`application/vnd.jupyter.widget-view+json`) lose their text repr: a static figure
  stored with them is shown, followed by one line on where the live version runs; tqdm progress
  bars (widgets too) are dropped;
- ANSI escapes are stripped from streams, errors and text;
- maths stays as TeX and is typeset in the browser by MathJax 2.7, copied once into _static/ from
  the jupyter-server-mathjax package (the same engine and delimiters as nbconvert's own template).

The build is incremental: a page is rewritten only when its notebook, its neighbours' titles (the
prev/next links) or the builder itself changed (a digest per page in _site/.stamps.json), and the
shared assets are copied only when missing or when plotly, MathJax or the stylesheets changed.
"""

import argparse
import hashlib
import html
import json
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TEMPLATES = HERE / "site_template"
TEMPLATE_NAME = "adalora_site"
STAMPS = ".stamps.json"
STATIC = "_static"

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
COURSE_PAGE = re.compile(r"\d\d_.*\.ipynb")
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
PROGRESS_BAR = re.compile(r"\d+%\|")  # a tqdm widget's repr: "label:   0%|      | 0/10 [...]"
WIDGET_NOTE = ("Live widget: the sliders and controls run in JupyterLab (<code>bash dev.sh lab</code>) "
               "or in classroom mode (<code>bash dev.sh classroom</code>).")
WIDGET_NOTE_STATIC = "Shown here in its default state. " + WIDGET_NOTE


@dataclass
class Page:
    source: Path
    href: str
    title: str          # Markdown (may hold TeX)
    summary: str        # Markdown: the first paragraph after the title
    title_html: str = ""
    summary_html: str = ""


# --- choosing and describing the notebooks -------------------------------------------------------

def course_notebooks(folder):
    """The course in reading order: NN_*.ipynb by file name, then classroom.ipynb if present."""
    pages = sorted(p for p in folder.glob("*.ipynb") if COURSE_PAGE.fullmatch(p.name))
    classroom = folder / "classroom.ipynb"
    return pages + ([classroom] if classroom.exists() else [])


def describe(path, nb):
    """A Page from the notebook's first heading and the first paragraph after it."""
    title, summary = path.stem, ""
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        lines = "".join(cell["source"]).splitlines()
        for i, line in enumerate(lines):
            if line.startswith("#"):
                title = line.lstrip("#").strip()
                paragraph = []
                for rest in lines[i + 1:]:
                    if rest.strip():
                        paragraph.append(rest)
                    elif paragraph:
                        break
                # a paragraph that leads into a list or a formula ends with ":" or ","
                summary = re.sub(r"\s*[,:;]\s*$", " …", "\n".join(paragraph))
                return Page(path, path.stem + ".html", title, summary)
    return Page(path, path.stem + ".html", title, summary)


def inline_markdown(text):
    """Markdown to HTML without the wrapping paragraph (maths left as TeX for MathJax)."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    out = markdown2html_mistune(text).strip()
    match = re.fullmatch(r"<p>(.*)</p>", out, flags=re.S)
    return match.group(1) if match else out


GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "lambda": "λ", "Delta": "Δ", "Sigma": "Σ"}


def plain_text(markdown):
    """A page's <title>: the heading without Markdown or TeX markup."""
    text = re.sub(r"\\(?:mathrm|text|mathbf|operatorname)\{([^}]*)\}", r"\1", markdown)
    text = re.sub(r"\\[,;:! ]", " ", text)  # TeX spacing
    text = re.sub(r"\\([A-Za-z]+)", lambda m: GREEK.get(m.group(1), ""), text)
    text = re.sub(r"[$*_`{}\\]", "", text)
    return re.sub(r"\s+", " ", text).strip()


# --- outputs -----------------------------------------------------------------------------------

def strip_ansi(text):
    """No terminal escapes, and a carriage return keeps only what was written after it."""
    text = ANSI.sub("", text).replace("\r\n", "\n")
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def script_json(value):
    """JSON safe inside a <script> element (no "</script>", no "<!--")."""
    return (json.dumps(value, separators=(",", ":"), ensure_ascii=False)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def plotly_html(figure, div_id):
    spec = {"data": figure.get("data", []), "layout": figure.get("layout", {}),
            "config": {"responsive": True, "displaylogo": False, **figure.get("config", {})}}
    return (f'<div class="site-plotly" id="{div_id}"></div>\n'
            f'<script>(function () {{ var f = {script_json(spec)};\n'
            f'Plotly.newPlot("{div_id}", f.data, f.layout, f.config); }})();</script>')


def render_outputs(nb, stem):
    """Rewrite the outputs that nbconvert cannot show offline into plain HTML outputs.
    Returns the number of plotly figures the page will draw."""
    figures = 0

    def figure(data):
        nonlocal figures
        figures += 1
        return plotly_html(data, f"plotly-{stem}-{figures}")

    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                out.text = strip_ansi(out.text)
            elif out.output_type == "error":
                out.traceback = [strip_ansi(line) for line in out.traceback]
            else:
                data = out.get("data", {})
                if isinstance(data.get("text/plain"), str):
                    data["text/plain"] = strip_ansi(data["text/plain"])
                if WIDGET_MIME in data:
                    if PROGRESS_BAR.search(data.get("text/plain", "")):
                        continue  # a tqdm bar's initial state says nothing once the cell has run
                    static = ""
                    if PLOTLY_MIME in data:
                        static = figure(data[PLOTLY_MIME])
                    elif "image/png" in data:
                        static = f'<img src="data:image/png;base64,{data["image/png"].strip()}">'
                    note = WIDGET_NOTE_STATIC if static else WIDGET_NOTE
                    out.data = {"text/html": f'{static}\n<p class="site-widget-note">{note}</p>'}
                    out.metadata = {}
                elif PLOTLY_MIME in data:
                    out.data = {"text/html": figure(data[PLOTLY_MIME])}
                    out.metadata = {}
            outputs.append(out)
        cell.outputs = outputs
    return figures


def course_links(page_html, hrefs):
    """Links between notebooks (`03_lora.ipynb#x`) point at their pages (`03_lora.html#x`)."""
    def swap(match):
        name, rest = match.group(2), match.group(3) or ""
        return f'{match.group(1)}{name[:-6]}.html{rest}"' if name[:-6] + ".html" in hrefs else match.group(0)

    return re.sub(r'(href=")(?:\./)?([^"/#?]+\.ipynb)(#[^"]*)?"', swap, page_html)


# --- building ----------------------------------------------------------------------------------

def digest(*parts):
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else str(part).encode())
        h.update(b"\0")
    return h.hexdigest()


def builder_digest():
    """Changes when this script or anything in the template folder changes."""
    files = [Path(__file__).resolve(), *sorted(p for p in TEMPLATES.rglob("*") if p.is_file())]
    return digest(*(p.read_bytes() for p in files))


def asset_sources(exporter):
    import jupyter_server_mathjax
    import plotly

    lab = next(Path(d) for d in exporter.template_paths if (Path(d) / "static" / "index.css").exists()
               and Path(d).name == "lab")
    return {
        "plotly": Path(plotly.__file__).parent / "package_data" / "plotly.min.js",
        "mathjax": Path(jupyter_server_mathjax.__file__).parent / "static",
        "lab_css": [lab / "static" / "index.css", lab / "static" / "theme-light.css"],
        "site_css": TEMPLATES / TEMPLATE_NAME / "static" / "site.css",
    }


def copy_assets(out, sources, stamps):
    """_static/: plotly.min.js, MathJax and the stylesheets, copied again only when they change."""
    from importlib.metadata import version

    css = [*sources["lab_css"], sources["site_css"]]
    want = digest(version("plotly"), version("jupyter-server-mathjax"),
                  *(p.read_bytes() for p in css))
    static = out / STATIC
    if stamps.get(STATIC) == want and static.is_dir():
        return False
    if static.exists():
        shutil.rmtree(static)
    static.mkdir(parents=True)
    shutil.copy2(sources["plotly"], static / "plotly.min.js")
    shutil.copytree(sources["mathjax"], static / "mathjax")
    (static / "jupyterlab.css").write_text(
        "\n".join(p.read_text(encoding="utf-8") for p in sources["lab_css"]), encoding="utf-8")
    shutil.copy2(sources["site_css"], static / "site.css")
    stamps[STATIC] = want
    return True


def make_exporter():
    from nbconvert import HTMLExporter

    return HTMLExporter(extra_template_basedirs=[str(TEMPLATES)], template_name=TEMPLATE_NAME,
                        exclude_input_prompt=True, exclude_output_prompt=True)


def build(out, notebooks_dir, force=False, log=print):
    """Build (or bring up to date) the site in `out`. Returns {"built": [...], "skipped": [...]}."""
    import nbformat
    from jinja2 import Environment, FileSystemLoader

    out.mkdir(parents=True, exist_ok=True)
    stamps_path = out / STAMPS
    stamps = {} if force else json.loads(stamps_path.read_text()) if stamps_path.exists() else {}
    exporter = make_exporter()
    if copy_assets(out, asset_sources(exporter), stamps):
        log(f"site: copied plotly.js, MathJax and stylesheets into {out / STATIC}")

    sources = course_notebooks(notebooks_dir)
    raw = {p: p.read_bytes() for p in sources}
    pages = [describe(p, json.loads(raw[p])) for p in sources]
    for page in pages:
        page.title_html = inline_markdown(page.title)
        page.summary_html = inline_markdown(page.summary) if page.summary else ""
    hrefs = {page.href for page in pages}
    tool = builder_digest()
    report = {"built": [], "skipped": []}

    for i, page in enumerate(pages):
        prev = pages[i - 1] if i > 0 else None
        nxt = pages[i + 1] if i + 1 < len(pages) else None
        nav = {"prev": prev and {"href": prev.href, "title_html": prev.title_html},
               "next": nxt and {"href": nxt.href, "title_html": nxt.title_html}}
        want = digest(tool, raw[page.source], json.dumps(nav, sort_keys=True), page.title)
        target = out / page.href
        if stamps.get(page.href) == want and target.exists():
            report["skipped"].append(page.href)
            continue
        start = time.perf_counter()
        nb = nbformat.reads(raw[page.source].decode("utf-8"), as_version=4)
        nb.metadata["title"] = plain_text(page.title) + " · adalora-lite"
        nb.metadata.pop("widgets", None)  # no widget state: the live widgets need a kernel anyway
        figures = render_outputs(nb, page.source.stem)
        body, _ = exporter.from_notebook_node(nb, resources={"site": nav})
        target.write_text(course_links(body, hrefs), encoding="utf-8")
        stamps[page.href] = want
        report["built"].append(page.href)
        log(f"site: {page.href} ({figures} figures, {time.perf_counter() - start:.1f} s)")

    landing = Environment(loader=FileSystemLoader(str(TEMPLATES / TEMPLATE_NAME)), autoescape=False)
    macros = landing.get_template("macros.html.j2").module
    index = landing.get_template("landing.html.j2").render(pages=pages, head_assets=macros.head_assets)
    index_path = out / "index.html"
    if not index_path.exists() or index_path.read_text(encoding="utf-8") != index:
        index_path.write_text(index, encoding="utf-8")
        report["built"].append("index.html")

    # pages of notebooks that no longer exist
    for name in [n for n in stamps if n.endswith(".html") and n not in hrefs]:
        (out / name).unlink(missing_ok=True)
        del stamps[name]
    stamps_path.write_text(json.dumps(stamps, indent=1, sort_keys=True))
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_site", help="output folder (default _site/)")
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks",
                        help="folder of executed notebooks (default notebooks/)")
    parser.add_argument("--force", action="store_true", help="rebuild every page")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    report = build(args.out.resolve(), args.notebooks.resolve(), force=args.force)
    print(f"site: {len(report['built'])} written, {len(report['skipped'])} unchanged, "
          f"{time.perf_counter() - start:.1f} s -> {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
