// Qmix.Functional's replacement for the parts of fsdocs' default scripts that load code from the network (the
// iconify icon set, lit, fuse.js): the site must work offline and opened from disk (file://), where browsers also
// refuse module scripts. A classic script, loaded in <head> by docs/_template.html; nothing here is global but the
// three custom elements.
//   <iconify-icon icon="...">   fsdocs writes these into the API pages (and its CSS styles them): drawn from the
//                                small set of SVG icons below, made for this site.
//   <fsdocs-theme-toggle>        light/dark switch in the header.
//   <fsdocs-details-toggle>      expands/collapses every member's details on an API page.
// and the search dialog (the header's magnifier, "/" or Ctrl+K): it reads content/qmix-search-index.js, which
// docs/relink.py writes from fsdocs' index.json, through a <script> tag, so it also works on file://.
(function () {
    "use strict";

    // 24×24 line icons, stroked in the current text colour.
    const fileOutline = '<path d="M6 2.5h8.5l4 4V21.5H6z"/><path d="M14.5 2.5v4h4"/>';
    const label = text =>
        '<text x="12.25" y="17.5" font-size="' + (text.length > 2 ? 5.2 : 6.5) + '" text-anchor="middle" ' +
        'font-family="system-ui, sans-serif" font-weight="700" fill="currentColor" stroke="none">' + text + '</text>';
    const icons = {
        "eva:menu-fill": '<path d="M4 6h16M4 12h16M4 18h16"/>',
        "mi:close": '<path d="M6 6l12 12M18 6L6 18"/>',
        "carbon:search": '<circle cx="10.5" cy="10.5" r="6"/><path d="M15 15l5.5 5.5"/>',
        "basil:moon-solid": '<path fill="currentColor" d="M19.5 14.5A8 8 0 0 1 9.5 4.5a8 8 0 1 0 10 10z"/>',
        "basil:sun-solid":
            '<circle fill="currentColor" cx="12" cy="12" r="4"/>' +
            '<path d="M12 2.5v2M12 19.5v2M2.5 12h2M19.5 12h2M5.3 5.3l1.4 1.4M17.3 17.3l1.4 1.4M5.3 18.7l1.4-1.4M17.3 6.7l1.4-1.4"/>',
        "bi:filetype-md": fileOutline + label("MD"),
        "bi:filetype-xml": fileOutline + label("XML"),
        "iconoir:page": fileOutline + '<path d="M9 11h6M9 14.5h6M9 18h4"/>',
        "bxs:file-doc": fileOutline + '<path d="M9 12l-1.5 2 1.5 2M15 12l1.5 2-1.5 2"/>',
        "carbon:expand-categories": '<path d="M4 5h16M4 19h16M8.5 10.5L12 7l3.5 3.5M8.5 13.5L12 17l3.5-3.5"/>',
        "carbon:collapse-categories": '<path d="M4 5h16M4 19h16M8.5 8L12 11.5 15.5 8M8.5 16L12 12.5l3.5 3.5"/>'
    };
    // An icon this set does not have still shows (a small outlined square) rather than nothing.
    const unknownIcon = '<rect x="7" y="7" width="10" height="10" rx="2"/>';

    function svg(name, width, height) {
        return '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="' + width + '" height="' +
            height + '" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" ' +
            'stroke-linejoin="round" aria-hidden="true" style="display:block;max-width:none">' + (icons[name] || unknownIcon) +
            '</svg>';
    }

    class Icon extends HTMLElement {
        static get observedAttributes() { return ["icon", "width", "height"]; }
        connectedCallback() { this.draw(); }
        attributeChangedCallback() { if (this.isConnected) this.draw(); }
        draw() {
            const width = this.getAttribute("width") || "24";
            const height = this.getAttribute("height") || width;
            this.style.display = "inline-block";
            this.style.width = width + "px";
            this.style.height = height + "px";
            this.innerHTML = svg(this.getAttribute("icon"), width, height);
        }
    }

    function iconButton(element, name, size, title, onClick) {
        element.style.cursor = "pointer";
        element.setAttribute("role", "button");
        element.setAttribute("title", title);
        element.style.color = "var(--header-link-color)";
        element.innerHTML = svg(name, size, size);
        element.onclick = onClick;
    }

    class ThemeToggle extends HTMLElement {
        connectedCallback() { this.draw(); }
        theme() {
            const saved = localStorage.getItem("theme");
            if (saved) return saved;
            return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
        }
        draw() {
            const theme = this.theme();
            this.style.display = "inline-block";
            this.style.transform = "translateY(3px)";
            iconButton(this, theme === "light" ? "basil:moon-solid" : "basil:sun-solid", 30,
                theme === "light" ? "Dark theme" : "Light theme", () => {
                    const next = this.theme() === "light" ? "dark" : "light";
                    localStorage.setItem("theme", next);
                    document.documentElement.setAttribute("data-theme", next);
                    this.draw();
                });
        }
    }

    class DetailsToggle extends HTMLElement {
        connectedCallback() {
            this.draw();
            document.addEventListener("detailstoggled", () => this.draw());
        }
        expanded() { return !!JSON.parse(localStorage.getItem("details-expanded")); }
        draw() {
            const expanded = this.expanded();
            this.style.display = "inline-block";
            iconButton(this, expanded ? "carbon:collapse-categories" : "carbon:expand-categories", 24,
                expanded ? "Collapse details" : "Expand details", () => {
                    const next = !this.expanded();
                    localStorage.setItem("details-expanded", JSON.stringify(next));
                    for (const details of document.getElementsByTagName("details")) {
                        if (next) details.setAttribute("open", "true"); else details.removeAttribute("open");
                    }
                    document.dispatchEvent(new CustomEvent("detailstoggled", { detail: { expanding: next } }));
                });
        }
    }

    customElements.define("iconify-icon", Icon);
    customElements.define("fsdocs-theme-toggle", ThemeToggle);
    customElements.define("fsdocs-details-toggle", DetailsToggle);

    // ---- search -------------------------------------------------------------------------------------------------
    // The site's root relative to this page ("" or "../"), from <html data-root>, which docs/relink.py rewrites.
    function siteRoot() {
        const root = document.documentElement.getAttribute("data-root") || "";
        return root === "./" ? "" : root;
    }

    let index = null;       // the entries, once loaded
    let loading = null;     // the pending load

    function loadIndex() {
        if (index) return Promise.resolve(index);
        if (!loading) {
            loading = new Promise((resolve, reject) => {
                const script = document.createElement("script");
                script.src = siteRoot() + "content/qmix-search-index.js";
                script.onload = () => {
                    index = window.qmixSearchIndex || [];
                    resolve(index);
                };
                script.onerror = () => reject(new Error("the search index did not load"));
                document.head.appendChild(script);
            });
        }
        return loading;
    }

    // Every word of the query must occur in the entry; a word counts more in the title than in a heading, and more
    // in a heading than in the text.
    function rank(entries, query) {
        const words = query.toLowerCase().split(/\s+/).filter(w => w.length > 0);
        if (words.length === 0) return [];
        const scored = [];
        for (const entry of entries) {
            const title = (entry.title || "").toLowerCase();
            const headings = (entry.headings || []).join(" ").toLowerCase();
            const content = (entry.content || "").toLowerCase();
            let score = 0;
            let all = true;
            for (const word of words) {
                const s = (title.includes(word) ? 10 : 0) + (headings.includes(word) ? 3 : 0) +
                    (content.includes(word) ? 1 : 0);
                if (s === 0) { all = false; break; }
                score += s;
            }
            if (all) scored.push({ entry: entry, score: score });
        }
        scored.sort((a, b) => b.score - a.score || a.entry.title.localeCompare(b.entry.title));
        return scored.slice(0, 20).map(s => s.entry);
    }

    function setUpSearch() {
        const button = document.getElementById("search-btn");
        const dialog = document.querySelector("dialog");
        if (!button || !dialog) return;
        const box = dialog.querySelector("input[type=search]");
        const list = dialog.querySelector("ul");
        const empty = dialog.querySelector(".empty");
        const prompt = "Type something to start searching.";

        function clear(message) {
            list.replaceChildren();
            empty.textContent = message;
            empty.style.display = "block";
        }

        function show(query) {
            if (!query) { clear(prompt); return; }
            loadIndex().then(entries => {
                if (box.value !== query) return;
                const results = rank(entries, query);
                if (results.length === 0) { clear("No results were found"); return; }
                empty.style.display = "none";
                list.replaceChildren(...results.map(entry => {
                    const li = document.createElement("li");
                    const a = document.createElement("a");
                    a.href = siteRoot() + entry.uri;
                    const icon = document.createElement("iconify-icon");
                    icon.setAttribute("width", "24");
                    icon.setAttribute("height", "24");
                    icon.setAttribute("icon", entry.type === "content" ? "iconoir:page" : "bxs:file-doc");
                    a.append(icon, entry.title);
                    li.appendChild(a);
                    return li;
                }));
            }, error => clear("Search is not available: " + error.message));
        }

        function open() {
            dialog.showModal();
            box.focus();
            loadIndex().catch(() => { });
        }

        function close() {
            box.value = "";
            clear(prompt);
            dialog.close();
        }

        let timer = null;
        button.addEventListener("click", open);
        dialog.addEventListener("click", ev => { if (ev.target.tagName === "DIALOG") close(); });
        box.addEventListener("keyup", ev => {
            ev.stopPropagation();
            clearTimeout(timer);
            timer = setTimeout(() => show(box.value.trim()), 150);
        });
        window.addEventListener("keydown", ev => {
            if (ev.key === "Escape" && dialog.open) { ev.preventDefault(); close(); return; }
            const tag = document.activeElement && document.activeElement.tagName;
            const typing = tag === "INPUT" || tag === "TEXTAREA";
            if (!dialog.open && ((ev.key === "/" && !typing) || (ev.key === "k" && (ev.ctrlKey || ev.metaKey)))) {
                ev.preventDefault();
                open();
            }
        });
    }

    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUpSearch);
    else setUpSearch();
})();
