import type { RequestHandler } from 'express';
import helmet from 'helmet';

/** Only our own scripts and styles: Alpine runs as its CSP build and htmx with allowEval off (see the layout). */
export function securityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'"],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'self'"],
        objectSrc: ["'none'"],
      },
    },
    // The console may be served over plain HTTP on a LAN; HSTS is the TLS terminator's call.
    strictTransportSecurity: false,
  });
}
