/**
 * Named channels between the parts of the snippet (page activity, clicks, routes, errors,
 * leaving the page) and out to the page (`on("frustration", ...)`).
 */
export type Listener = (detail: Record<string, unknown>) => void;

// The channels between captures, named only here (the page's own is "frustration").
/** A click; detail: the element it was meant for. */
export const CLICKED = "c";
/** An uncaught error or rejection; detail: its message. */
export const FAILED = "e";
/** The page is being left. */
export const LEAVING = "l";
/** A route changed; detail: the URL left. */
export const ROUTED = "r";

const listeners: Record<string, Listener[]> = {};

/** Listen on a channel; each channel's detail has its own type. */
export function listen<T>(name: string, listener: (detail: T) => void): void {
  (listeners[name] ||= []).push(listener as Listener);
}

/** Tell a channel's listeners; one that throws (a capture's bug, a page's callback) stops no other. */
export function fire(name: string, detail?: unknown): void {
  for (const listener of listeners[name] || []) {
    try {
      listener(detail as Record<string, unknown>);
    } catch {
      // Swallowed: measurement must never break the page.
    }
  }
}
