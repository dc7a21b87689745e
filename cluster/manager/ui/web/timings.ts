/**
 * Render timings the page measures on itself (ms), readable as `window.pandakvTimings`
 * by the browser tests and shown at the bottom of the synthetic view.
 */
export const timings: Record<string, number | null> = { gridMs: null, drawMs: null, drawnAt: null, drawnRev: null, drawnFollow: null };

(globalThis as unknown as { pandakvTimings: typeof timings }).pandakvTimings = timings;
