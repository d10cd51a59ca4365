import { watch } from "./activity";
import { isPrivate, label } from "./lib/target";
import { clip } from "./lib/text";
import type { Tracker } from "./tracker";

/** A started form with no input this long is stalled: the moment to offer help. */
export const STALL_MS = 30_000;
/** The same field refused this often also stalls the form. */
const STALL_INVALID = 2;
const FIELDS = "input,select,textarea";

interface Field {
  /** focused at (performance.now), 0 when not focused */
  _at: number;
  _hes?: number;
  _edits: number;
  _dels: number;
  _amends: number;
  _invalid: number;
  /** changed during this focus / during an earlier one */
  _now?: boolean;
  _before?: boolean;
}

interface Form {
  _name: string;
  _start?: number;
  _last: string;
  _fields: Record<string, Field>;
  _timer?: ReturnType<typeof setTimeout>;
}

const fieldName = (el: Element): string => (isPrivate(el) ? "private" : label(el) || el.tagName.toLowerCase());

/** Whether a field holds something, never what. */
const filled = (el: Element): boolean => {
  const c = el as HTMLInputElement;
  return /^(checkbox|radio)$/.test(c.type) ? c.checked : !!c.value;
};

/**
 * Form analytics without values: when a form is started, each field's focus time,
 * hesitation (focus to first input), edits, deletions and amendments (changed, left,
 * changed again), validation errors, submission, and abandonment: interacted, then the
 * route or the page was left (or the form removed) without submitting; that event names
 * the last field touched and the fields completed.
 */
export function captureForms(tracker: Tracker): void {
  const stallMs = tracker._o.stallMs || STALL_MS;
  const forms = new Map<Element, Form>();
  let focused: Element | undefined;

  /** The form of a field event, the field's name and its record. */
  const find = (e: Event): [Element, Form, string, Field] | undefined => {
    const el = e.target as Element;
    const f = el.matches && el.matches(FIELDS) && ((el as HTMLInputElement).form || el.closest("form,[data-microx-form]"));
    if (!f) return undefined;
    let form = forms.get(f);
    if (!form) {
      const a = (n: string): string => f.getAttribute(n) || "";
      const name = a("data-microx-form") || a("name") || f.id || a("action").split("?")[0] || "form";
      forms.set(f, (form = { _name: clip(name, 200), _last: "", _fields: {} }));
    }
    const name = fieldName(el);
    return [f, form, name, (form._fields[name] ||= { _at: 0, _edits: 0, _dels: 0, _amends: 0, _invalid: 0 })];
  };

  const stalled = (form: Form, why: string): void =>
    tracker._frustrated({ type: "stalled_form", form: form._name, field: form._last, why });

  const blur = (e: Event): void => {
    const hit = find(e);
    focused = undefined;
    if (!hit) return;
    const [, form, name, f] = hit;
    if (f._now) f._before = true;
    f._now = false;
    if (form._start === undefined || !f._at) return;
    const p: Record<string, number | boolean> = { edits: f._edits, dels: f._dels, amends: f._amends, filled: filled(e.target as Element) };
    if (f._hes !== undefined) p["hes"] = Math.round(f._hes);
    tracker._emit("form_field", { n: form._name, tg: name, d: performance.now() - f._at, p });
    f._at = 0;
  };

  const end = (el: Element, form: Form, how?: string, u?: string): void => {
    forms.delete(el);
    clearTimeout(form._timer);
    if (form._start === undefined) return;
    const d = performance.now() - form._start;
    if (!how) {
      tracker._emit("form_submit", { n: form._name, d, p: { fields: Object.keys(form._fields).length } });
      return;
    }
    const done: string[] = [];
    el.querySelectorAll(FIELDS).forEach((c) => {
      const name = fieldName(c);
      if (form._fields[name] && filled(c)) done.push(name);
    });
    tracker._emit("form_abandon", { u, n: form._name, tg: form._last, d, p: { how, done: done.length, fields: done.join(",") } });
  };
  const leave = (how: string, u?: string): void => {
    if (focused) blur({ target: focused } as unknown as Event);
    forms.forEach((form, el) => end(el, form, how, u));
  };
  const submit = (el: Element | null): void => {
    const form = el && forms.get(el);
    if (form) end(el, form);
  };

  addEventListener(
    "focusin",
    (e) => {
      const hit = find(e);
      if (hit) (hit[3]._at = performance.now()), (focused = e.target as Element);
    },
    true,
  );
  addEventListener("focusout", blur, true);
  addEventListener(
    "input",
    (e) => {
      const hit = find(e);
      if (!hit) return;
      const [, form, name, f] = hit;
      if (form._start === undefined) {
        form._start = performance.now();
        tracker._emit("form_start", { n: form._name, tg: name });
      }
      if (f._hes === undefined && f._at) f._hes = performance.now() - f._at;
      if (f._before && !f._now) f._amends++;
      f._now = true;
      f._edits++;
      if (/^delete/.test((e as InputEvent).inputType)) f._dels++;
      form._last = name;
      clearTimeout(form._timer);
      form._timer = setTimeout(() => document.visibilityState === "visible" && stalled(form, "idle"), stallMs);
    },
    true,
  );
  addEventListener(
    "invalid",
    (e) => {
      const hit = find(e);
      if (!hit) return;
      const [, form, name, f] = hit;
      const v = (e.target as HTMLInputElement).validity;
      let why = "invalid";
      for (const k in v) if (k !== "valid" && v[k as keyof ValidityState]) why = k;
      tracker._emit("form_invalid", { n: form._name, tg: name, p: { why } });
      if (++f._invalid === STALL_INVALID) stalled(form, "invalid");
    },
    true,
  );
  addEventListener("submit", (e) => submit(e.target as Element), true);
  // Forms an app sends itself (no submit event) mark their send button instead.
  tracker._on("click", (c) => {
    const el = (c["el"] as Element).closest("[data-microx-submit]");
    if (el) submit(el.closest("form,[data-microx-form]"));
  });
  tracker._on("route", (r) => leave("route", String(r["from"])));
  tracker._on("leave", () => leave("page"));
  watch((kind) => {
    if (kind === "dom") forms.forEach((form, el) => el.isConnected || end(el, form, "removed"));
  });
}
