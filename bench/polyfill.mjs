// Promise.withResolvers polyfill: @restatedev/restate-sdk 1.17.2 calls it, and Node 20 lacks it.
// Load it before the SDK: `node --import ./polyfill.mjs services.mjs`.
if (!Promise.withResolvers) {
  Promise.withResolvers = function () {
    let resolve, reject;
    const promise = new Promise((a, b) => {
      resolve = a;
      reject = b;
    });
    return { promise, resolve, reject };
  };
}
