// A hash router: "#/events/12" -> the view registered for "/events/:id". Hash routes keep
// the server side to one URL (/app/, which the service worker caches) and survive a
// reload. A view is `async (main, params, query) => cleanup?`; the cleanup (close a
// socket, stop a timer) runs before the next view renders.

export class Router {
  constructor(main, { notFound }) {
    this.main = main;
    this.routes = [];
    this.notFound = notFound;
    this.cleanup = null;
    this.generation = 0;
    window.addEventListener("hashchange", () => this.render());
  }

  add(pattern, view) {
    const names = [];
    const regex = new RegExp("^" + pattern.replace(/:(\w+)/g, (_, name) => {
      names.push(name);
      return "([^/]+)";
    }) + "/?$");
    this.routes.push({ regex, names, view });
    return this;
  }

  current() {
    const hash = decodeURIComponent(window.location.hash.replace(/^#/, "")) || "/";
    const [path, search] = hash.split("?");
    return { path, query: new URLSearchParams(search || "") };
  }

  go(path) {
    if (window.location.hash === "#" + path) this.render();
    else window.location.hash = path;
  }

  async render() {
    const generation = ++this.generation;
    if (this.cleanup) {
      try { this.cleanup(); } catch (error) { /* a view's cleanup must not stop the next one */ }
      this.cleanup = null;
    }
    const { path, query } = this.current();
    let view = this.notFound, params = {};
    for (const route of this.routes) {
      const match = route.regex.exec(path);
      if (match) {
        view = route.view;
        route.names.forEach((name, i) => { params[name] = match[i + 1]; });
        break;
      }
    }
    // Each render gets its own root: a view still awaiting the network when the person
    // moves on (or the same route renders again) appends to its detached root, never
    // beside the view that replaced it.
    const root = document.createElement("div");
    root.className = "view";
    this.main.replaceChildren(root);
    this.main.setAttribute("aria-busy", "true");
    const cleanup = await view(root, params, query);
    if (generation !== this.generation) {
      if (typeof cleanup === "function") cleanup(); // the person moved on meanwhile
      return;
    }
    this.cleanup = typeof cleanup === "function" ? cleanup : null;
    this.main.removeAttribute("aria-busy");
    // Each screen starts at its heading: screen readers announce it, keyboards start there.
    const heading = this.main.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      document.title = heading.textContent + " · Tombola";
      if (this.rendered) heading.focus();
    }
    this.rendered = true;
    document.dispatchEvent(new CustomEvent("routechange", { detail: { path } }));
  }
}
