// The page's service worker: it keeps a copy of the page, its script and its network, so that
// the page opens and reads digits with no connection at all (a phone in airplane mode, a
// server that is gone). The network is asked first, so that a newer model replaces the copy.
"use strict";
const CACHE = "draw-a-digit";
const FILES = ["./", "nn.js", "model.web", "manifest.webmanifest", "icon-192.png", "icon-512.png"];
self.addEventListener("install", e => e.waitUntil(caches.open(CACHE).then(c => c.addAll(FILES)).then(() => self.skipWaiting())));
self.addEventListener("activate", e => e.waitUntil(self.clients.claim()));
self.addEventListener("fetch", e => {
  if (e.request.method !== "GET") return; // predictions asked of a server are never cached
  e.respondWith(
    fetch(e.request)
      .then(res => {
        if (res.ok) {
          const copy = res.clone();
          caches.open(CACHE).then(c => c.put(e.request, copy));
        }
        return res;
      })
      .catch(() => caches.match(e.request, { ignoreSearch: true }).then(hit => hit || Response.error()))
  );
});
