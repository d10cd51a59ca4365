import { again } from "./failures";
import { guard } from "./lib/safe";
import { load, save } from "./lib/store";
import type { Failures } from "./transport";

/**
 * The worker's whole code: it says it runs, then sends each request it is given and
 * answers with its id, the status and Retry-After (no status: no answer).
 */
const WORKER =
  'postMessage([]);onmessage=({data:[i,u,b]})=>fetch(u,{method:"POST",body:b,credentials:"omit"}).then(r=>postMessage([i,r.status,r.headers.get("retry-after")]),()=>postMessage([i]))';

/** Set on this site once a worker was refused here. */
export const NO_WORKER_KEY = "microx_nw";

/**
 * Batches sent from a worker: Chromium's `fetch` took 0.7–1.0 ms of the page's main
 * thread per request (`sendBeacon` and XHR about as long), and a message to a worker
 * 0.07 ms. Used once the worker says it runs: where it cannot start (a Content Security
 * Policy without `blob:` for workers) requests stay on the page's own `fetch`. A refused
 * worker is also reported to the site's policy reports, so none is tried where the page
 * shows a policy by a nonce on the snippet's tag, nor again on a site where one was
 * refused (`NO_WORKER_KEY`): a site whose policy has no nonce sees at most one report from
 * each browser, and lets the worker in with `worker-src blob:`.
 *
 * A worker's request does not outlive the page as a keepalive `fetch` does: while the
 * page is hidden or being left, requests go by `fetch` again, and those still in the
 * worker then (the page may be closed or discarded without another word) are sent again
 * as beacons, marked as tried again, so the collector drops the copy of any that arrived.
 */
export function sendOffThread(failures: Failures): void {
  /** Each request in flight: how its answer is given, and its body. */
  const inFlight = new Map<number, [(response: Partial<Response>) => void, string]>();
  let last = 0;
  /** The collector's address, whole: one endpoint a page. */
  let url = "";
  if ((document.currentScript as HTMLScriptElement | null)?.nonce || load(NO_WORKER_KEY, true)) return;
  const worker = new Worker(URL.createObjectURL(new Blob([WORKER])));
  worker.onerror = () => save(NO_WORKER_KEY, 1, true);
  /** The worker has said it runs. */
  let ready: unknown;
  worker.onmessage = ({ data: [id, status, retry] }: MessageEvent<[number?, number?, string?]>) => {
    const request = id && inFlight.get(id);
    if (!id) {
      ready = 1;
      shown(!document.hidden);
    } else if (request) {
      inFlight.delete(id);
      // No status (no answer) is a network error, as `fetch` would have it.
      request[0]({ status: status || 0, headers: { get: () => retry } as unknown as Headers });
    }
  };
  // The worker's own address is a blob: URL, against which no path resolves.
  const post: NonNullable<Failures["post"]> = (endpoint, { body }) =>
    new Promise((answer) => {
      url ||= new URL(endpoint, location.href).href;
      inFlight.set(++last, [answer, body]);
      worker.postMessage([last, url, body]);
    });
  // While the page is hidden or being left, requests go by the page's keepalive `fetch`
  // again, which outlives it: what is sent as it goes (a form left half filled, at
  // pagehide) is not lost with the worker. The requests still in the worker go again.
  const shown = guard((visible?: unknown): void => {
    delete failures.post;
    if (visible && ready) failures.post = post;
    else {
      inFlight.forEach(([, body]) => {
        const batch = JSON.parse(body) as { e: Parameters<typeof again>[0] };
        again(batch.e);
        navigator.sendBeacon(url, JSON.stringify(batch));
      });
      inFlight.clear();
    }
  });
  addEventListener("visibilitychange", () => shown(document.visibilityState == "visible"));
  // Capturing, which Firefox runs before the first file's own listener, which sends what
  // pagehide adds. Chromium runs a window's listeners in the order they were added, this
  // one last: there a batch that the first file's listener fills to 20 events starts from
  // the worker and goes again from here as a beacon, marked as a second try.
  addEventListener("pagehide", () => shown(), true);
}
