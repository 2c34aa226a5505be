// A list that stays smooth at 100,000 rows: fixed row height, a spacer as tall
// as all rows, and only the visible rows (plus a margin) in the DOM. Pages are
// fetched on demand and cached until the next reset.

const PAGE = 200;
const MARGIN = 8;

export class VirtualList {
  /**
   * @param {HTMLElement} container scrolling element
   * @param {{rowHeight:number, fetchPage:(offset:number, limit:number)=>Promise<{items:any[], total:number}>,
   *          renderRow:(item:any)=>HTMLElement, onOpen:(item:any)=>void, onLoaded:(total:number)=>void}} options
   */
  constructor(container, options) {
    Object.assign(this, options);
    this.container = container;
    this.spacer = document.createElement('div');
    this.spacer.className = 'vlist-spacer';
    container.append(this.spacer);
    this.pages = new Map();
    this.total = 0;
    /** The row that holds the list's one tab stop. */
    this.current = 0;
    this.generation = 0;
    this.frame = 0;
    container.addEventListener('scroll', () => this.schedule());
    container.addEventListener('keydown', (event) => this.onKey(event));
    new ResizeObserver(() => this.schedule()).observe(container);
  }

  /** Drops the cache and loads from the top (after a search, filter or save). */
  async reset() {
    const generation = ++this.generation;
    const first = await this.fetchPage(0, PAGE);
    if (generation !== this.generation) return;
    this.pages = new Map([[0, first.items]]);
    this.total = first.total;
    if (this.current >= this.total) this.current = 0;
    this.spacer.style.height = `${this.total * this.rowHeight}px`;
    if (this.container.scrollTop > this.total * this.rowHeight) this.container.scrollTop = 0;
    this.onLoaded(this.total, Boolean(first.total_capped));
    this.render();
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.render(); });
  }

  item(index) {
    const page = this.pages.get(Math.floor(index / PAGE));
    return page ? page[index % PAGE] : undefined;
  }

  async load(pageIndex) {
    if (this.pages.has(pageIndex)) return;
    const generation = this.generation;
    this.pages.set(pageIndex, null); // loading
    try {
      const page = await this.fetchPage(pageIndex * PAGE, PAGE);
      if (generation !== this.generation) return;
      this.pages.set(pageIndex, page.items);
      this.render();
    } catch (error) {
      this.pages.delete(pageIndex);
    }
  }

  render() {
    const height = this.container.clientHeight || 400;
    const first = Math.max(0, Math.floor(this.container.scrollTop / this.rowHeight) - MARGIN);
    const last = Math.min(this.total, Math.ceil((this.container.scrollTop + height) / this.rowHeight) + MARGIN);
    // Rows already on screen for the same cached item are kept, so focus,
    // hover and a click in progress survive a re-render.
    const current = new Map([...this.spacer.children].map((r) => [r.dataset.index, r]));
    const rows = [];
    for (let index = first; index < last; index++) {
      const item = this.item(index);
      if (item === undefined) {
        this.load(Math.floor(index / PAGE));
        continue;
      }
      if (item === null) continue;
      const kept = current.get(String(index));
      rows.push(kept && kept.item === item ? kept : this.makeRow(item, index));
    }
    const same = rows.length === this.spacer.children.length && rows.every((r, i) => r === this.spacer.children[i]);
    if (!same) {
      const focusedKey = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.key : null;
      this.spacer.replaceChildren(...rows);
      // The current row scrolled away: the first one in view keeps the list reachable by Tab.
      if (rows.length && !rows.some((r) => r.tabIndex === 0)) rows[0].tabIndex = 0;
      const again = focusedKey && rows.find((r) => r.dataset.key === focusedKey);
      if (again && document.activeElement !== again) again.focus({ preventScroll: true });
    }
  }

  makeRow(item, index) {
    const row = this.renderRow(item);
    row.item = item;
    row.dataset.index = String(index);
    row.dataset.key = item.key;
    // One tab stop per list (the current row); the arrows move within it.
    row.tabIndex = index === this.current ? 0 : -1;
    row.addEventListener('focus', () => this.makeCurrent(index));
    row.style.top = `${index * this.rowHeight}px`;
    row.addEventListener('click', () => this.onOpen(item));
    return row;
  }

  /** Moves the list's tab stop to row `index`. */
  makeCurrent(index) {
    this.current = index;
    for (const row of this.spacer.children) row.tabIndex = Number(row.dataset.index) === index ? 0 : -1;
  }

  onKey(event) {
    const row = event.target.closest('[data-index]');
    if (!row) return;
    const index = Number(row.dataset.index);
    if (event.key === 'Enter') {
      const item = this.item(index);
      if (item) this.onOpen(item);
    } else if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      const next = Math.min(this.total - 1, Math.max(0, index + (event.key === 'ArrowDown' ? 1 : -1)));
      const top = next * this.rowHeight;
      if (top < this.container.scrollTop) this.container.scrollTop = top;
      if (top + this.rowHeight > this.container.scrollTop + this.container.clientHeight) {
        this.container.scrollTop = top + this.rowHeight - this.container.clientHeight;
      }
      this.render();
      const target = this.spacer.querySelector(`[data-index="${next}"]`);
      if (target) target.focus();
    }
  }
}
