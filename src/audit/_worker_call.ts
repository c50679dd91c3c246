/**
 * One request to a short-lived Web Worker: post `message`, settle with its one answer (or its
 * `{ error }`), then end the worker. The gateway's dashboard reads large stores this way so its
 * event loop keeps serving agents meanwhile.
 *
 * @module
 */

/**
 * Runs the worker module at `url` (named `name`) on `message`; rejects on its error. Given
 * `onProgress`, the worker may post `{ progress: n }` before its answer: each goes there.
 */
export function callWorker<T>(
  url: string,
  name: string,
  message: unknown,
  onProgress?: (progress: number) => void,
): Promise<T> {
  const worker = new Worker(url, { type: "module", name });
  return new Promise<T>((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<T | { error: string } | { progress: number }>) => {
      const data = event.data;
      if (onProgress && typeof data === "object" && data !== null && "progress" in data) {
        onProgress((data as { progress: number }).progress);
      } else if (typeof data === "object" && data !== null && "error" in data) {
        reject(new Error((data as { error: string }).error));
      } else resolve(data as T);
    };
    // preventDefault: a worker that fails rejects this call, it does not end the process.
    worker.onerror = (event) => {
      event.preventDefault();
      reject(new Error(event.message));
    };
    worker.postMessage(message);
  }).finally(() => worker.terminate());
}
