import { watch } from "./activity";
import { CLICKED, LEAVING, listen, ROUTED } from "./lib/channels";
import { guard } from "./lib/safe";
import { attr, FIELDS, isPrivate, label, tag } from "./lib/target";
import { clip, typed } from "./lib/text";
import { cleanUrl } from "./lib/url";
import { emit, frustrated, options } from "./tracker";

/** A started form with no input this long is stalled: the moment to offer help. */
export const STALL_MS = 30_000;
/** The same field refused this often also stalls the form. */
const STALL_INVALID = 2;
const FORMS = "form,[data-microx-form]";
/** Search and filter forms: a route they change is their answer, not a form left. */
const SEARCH = "[role=search],search,[method=get i]";

interface Field {
  /** focused at (performance.now, never 0), 0 when not focused */
  _at: number;
  _hes?: number;
  /** the counts its `form_field` event carries */
  _counts: { edits: number; dels: number; amends: number };
  _invalid: number;
  /** changed during this focus / during this or an earlier one */
  _now?: boolean;
  _ever?: boolean;
}

interface Form {
  _name: string;
  /** first input at (performance.now, never 0) */
  _start?: number;
  _last: string;
  _fields: Record<string, Field>;
  _timer?: ReturnType<typeof setTimeout>;
}

const fieldName = (el: Element): string => (isPrivate(el) ? "private" : label(el) || tag(el));

/** Whether a field holds something, never what. */
const filled = (el: Element): boolean =>
  el.matches("[type=checkbox],[type=radio]") ? (el as HTMLInputElement).checked : !!(el as HTMLInputElement).value;

/**
 * Form analytics without values: when a form is started, each field's focus time,
 * hesitation (focus to first input), edits, deletions and amendments (changed, left,
 * changed again), validation errors, submission, and abandonment: interacted, then the
 * route or the page was left (or the form removed) without submitting; that event names
 * the last field touched and the fields completed.
 */
export function captureForms(): void {
  const stallMs = options.stallMs || STALL_MS;
  const forms = new Map<Element, Form>();
  let focused: Element | undefined;

  const stalled = (form: Form, why: string): void =>
    frustrated({ type: "stalled_form", form: form._name, field: form._last, why });

  /** A field's focus, blur, input or refusal, and what it means for its form. */
  const onField = (event: Event): void => {
    const el = event.target as HTMLInputElement;
    const type = event.type;
    if (type == "focusout") focused = undefined;
    // Page text that echoes what is typed here must not carry it out (see `scrub`).
    if (type == "input") typed.add(el);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the target may be the document or the window, which have no `matches`
    const formEl = el.matches?.(FIELDS) && (el.form || el.closest(FORMS));
    if (!formEl) return;
    const form = forms.get(formEl) || {
      _name: clip(
        attr(formEl, "data-microx-form") ||
          attr(formEl, "name") ||
          formEl.id ||
          cleanUrl(attr(formEl, "action")) ||
          "form",
        200,
      ),
      _last: "",
      _fields: {},
    };
    forms.set(formEl, form);
    const formName = form._name;
    const tg = fieldName(el);
    // Keyed with a prefix: a field named "constructor" is a field like others.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the rule reads the write type of `||=`'s target, which has no undefined
    const field = (form._fields["f" + tg] ||= { _at: 0, _counts: { edits: 0, dels: 0, amends: 0 }, _invalid: 0 });
    const counts = field._counts;
    const now = performance.now();
    if (type == "focusin") {
      field._at = now;
      focused = el;
      form._last = tg;
    } else if (type == "focusout") {
      field._now = false;
      if (!form._start || !field._at) return;
      // No input during any focus yet: no hesitation (NaN is not sent).
      emit("form_field", {
        n: formName,
        tg,
        d: now - field._at,
        // eslint-disable-next-line @typescript-eslint/no-non-null-assertion -- Math.round(undefined) is NaN
        p: { ...counts, filled: filled(el), hes: Math.round(field._hes!) },
      });
      field._at = 0;
    } else if (type == "input") {
      if (!form._start) {
        form._start = now;
        emit("form_start", { n: formName, tg });
      }
      if (field._at) field._hes ??= now - field._at;
      // The first change of a focus amends the field if an earlier focus changed it.
      if (!field._now) {
        if (field._ever) counts.amends++;
        field._now = field._ever = true;
      }
      counts.edits++;
      if (/^delete/.test((event as InputEvent).inputType)) counts.dels++;
      form._last = tg;
      clearTimeout(form._timer);
      form._timer = setTimeout(
        guard(() => !document.hidden && stalled(form, "idle")),
        stallMs,
      );
    } else {
      const validity = el.validity;
      let why = "invalid";
      for (const key in validity) if (key != "valid" && validity[key as keyof ValidityState]) why = key;
      emit("form_invalid", { n: formName, tg, p: { why } });
      if (++field._invalid == STALL_INVALID) stalled(form, "invalid");
    }
  };

  /**
   * The form is submitted (no `how`) or abandoned. A form focused but never typed into is
   * abandoned too, without a duration (it never started): balking at the first field is
   * leaving the form.
   */
  const end = (el: Element, form: Form, how?: string, url?: string): void => {
    forms.delete(el);
    clearTimeout(form._timer);
    const formName = form._name;
    const duration = form._start && performance.now() - form._start;
    if (!how) {
      if (duration) emit("form_submit", { n: formName, d: duration });
      return;
    }
    const done = [...el.querySelectorAll(FIELDS)]
      .map((field) => filled(field) && fieldName(field))
      .filter((name) => name && form._fields["f" + name]);
    if (form._last)
      emit("form_abandon", { u: url, n: formName, tg: form._last, d: duration, p: { how, fields: done.join() } });
  };
  const leave = (how: string, url?: string): void => {
    const here = focused as HTMLInputElement | undefined;
    if (here) onField({ type: "focusout", target: here } as unknown as Event);
    forms.forEach((form, el) => {
      // A search field, or a form without a button or submit control, typed into as the route
      // changed, filters what the route shows.
      if (
        how != "route" ||
        !(
          el.closest(SEARCH) ||
          (here && el.contains(here) && (here.type == "search" || !el.querySelector("button,[type=submit]")))
        )
      )
        end(el, form, how, url);
    });
  };
  const submit = (el: Element | null): void => {
    const form = el && forms.get(el);
    if (form) end(el, form);
  };

  for (const type of ["focusin", "focusout", "input", "invalid"]) addEventListener(type, guard(onField), true);
  addEventListener(
    "submit",
    guard((event) => submit(event.target as Element)),
    true,
  );
  // Forms an app sends itself (no submit event) mark their button `data-microx-submit`.
  listen(CLICKED, (clicked: Element) => {
    const el = clicked.closest("[data-microx-submit]");
    if (el) submit(el.closest(FORMS));
  });
  listen(ROUTED, (from: string) => leave("route", from));
  listen(LEAVING, () => leave("page"));
  watch((kind) => {
    if (kind == "dom") forms.forEach((form, el) => el.isConnected || end(el, form, "removed"));
  });
}
