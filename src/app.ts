// createApp(deps) → an Express app that does not listen; src/server.ts listens, tests drive it with supertest.
// Read the route table below top to bottom: it is the console's public surface.
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import type { Deps } from './deps.ts';
import { compressResponses } from './http/compression.ts';
import { createContainerFragments } from './http/container-fragments.ts';
import { createTemplateTestFragments } from './http/template-test-fragments.ts';
import { errorHandler, notFound } from './http/error-handler.ts';
import { allow, loadUser, requireUser } from './http/middleware/auth.ts';
import { refuseControlCharacters } from './http/middleware/control-characters.ts';
import { auditAdminWrites } from './http/middleware/audit-writes.ts';
import { bearerAuth, unlessBearer } from './http/middleware/bearer-auth.ts';
import { csrfProtection } from './http/middleware/csrf.ts';
import { loginRateLimits, type LoginLimits } from './http/middleware/login-rate-limit.ts';
import { requestLogging } from './http/middleware/request-context.ts';
import { loadStaticAssets } from './http/static-assets.ts';
import { securityHeaders } from './http/middleware/security.ts';
import { saveBeforeRedirect, sessionReader, sessionStore, sessions } from './http/middleware/session.ts';
import { containerStreams } from './http/container-streams.ts';
import { streamGateway } from './http/stream-gateway.ts';
import { noteAccessChecks } from './http/stream-access.ts';
import { simulatorBadgeLocals } from './http/middleware/simulator-badge.ts';
import { accountRoutes } from './http/routes/account-routes.ts';
import { auditRoutes } from './http/routes/audit-routes.ts';
import { authRoutes } from './http/routes/auth-routes.ts';
import { containerRoutes } from './http/routes/container-routes.ts';
import { healthRoutes } from './http/routes/health-routes.ts';
import { historyRoutes } from './http/routes/history-routes.ts';
import { nodeRoutes } from './http/routes/node-routes.ts';
import { packageSetRoutes } from './http/routes/package-set-routes.ts';
import { templateRoutes } from './http/routes/template-routes.ts';
import { inviteRoutes, userRoutes } from './http/routes/user-routes.ts';
import { wizardRoutes } from './http/routes/wizard-routes.ts';
import { createViews } from './views.ts';

const PUBLIC_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../public');

type Handle = (req: IncomingMessage, res: ServerResponse, done?: (err?: unknown) => void) => void;

export type AppDeps = Deps & {
  /** Over the configured sign-in limits (tests give each file its own Redis prefix and budget). */
  loginLimits?: Partial<LoginLimits>;
  /** Where the built browser assets are (tests build their own); public/ by default. */
  publicDir?: string;
};

export function createApp(deps: AppDeps): express.Express {
  const { config, logger, repos } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy ? 1 : false);
  const publicDir = deps.publicDir ?? PUBLIC_DIR;
  const assets = loadStaticAssets(publicDir);
  app.locals.views = createViews({ cache: config.env === 'production', asset: assets.url });

  const store = sessionStore({ pool: deps.sessionPool, onStoreError: (message) => logger.warn({ err: message }, 'session store error') });
  const containerFragments = createContainerFragments(app.locals.views, { heartbeatMs: config.sse.heartbeatMs });
  const streams = containerStreams(deps, containerFragments);
  // A page's live streams are answered before Express and its middleware (src/http/stream-gateway.ts): the gateway
  // sits in front of `app.handle`, which the app function calls for every request (app.listen and supertest alike),
  // and hands Express whatever it does not take.
  const gateway = streamGateway({ readSession: sessionReader(store, deps.sessionSecret), users: repos.users, streams, access: deps.access, logger });
  // Open streams close when their account loses access, announced by any web process: heard from the start.
  deps.access.listen();
  const expressHandle = (app as unknown as { handle: Handle }).handle.bind(app);
  (app as unknown as { handle: Handle }).handle = (req, res, done) => void gateway(req, res, () => expressHandle(req, res, done));

  app.use(requestLogging(logger));
  // Hashed, precompressed, immutable, before the page headers (a script or stylesheet needs none of them: they
  // would cost about 700 bytes per asset); other files under public/ (none referenced by the pages) revalidate.
  app.use(assets.middleware);
  app.use(securityHeaders());
  app.use(compressResponses());
  app.use('/static', express.static(publicDir, { maxAge: 0, index: false }));
  // Pages link the favicon under its hashed name; a browser showing log.txt or an image still asks for the conventional path.
  app.get('/favicon.ico', allow.everyone, (_req, res) => res.redirect(301, '/static/favicon.svg'));
  app.use(healthRoutes({ settings: repos.settings, redis: deps.redis }));

  app.use(express.urlencoded({ extended: false, limit: '2mb', parameterLimit: 2000 }));
  // Scripts may send JSON; a cross-site form cannot (it would need a CORS preflight we never grant).
  app.use(express.json({ limit: '2mb' }));
  app.use(noteAccessChecks(deps.access));
  app.use(bearerAuth({ apiTokens: repos.apiTokens, users: repos.users }));
  app.use(unlessBearer(sessions({ store, secret: deps.sessionSecret, secureCookies: false })));
  app.use(saveBeforeRedirect);
  app.use(unlessBearer(csrfProtection(deps.sessionSecret)));
  app.use(unlessBearer(loadUser(repos.users)));
  app.use(simulatorBadgeLocals(repos));
  app.use(refuseControlCharacters);

  // Open to everyone: first-run setup and sign-in.
  app.use(authRoutes(
    { users: repos.users, settings: repos.settings, logger, access: deps.access },
    { repos, logger },
    loginRateLimits(deps.redis, { ...config.loginLimits, prefix: `${config.queuePrefix}:rl:login:`, ...deps.loginLimits }, repos.users),
    { users: repos.users, settings: repos.settings, nodes: repos.nodes, secrets: deps.secrets, logger },
  ));

  // Invite links are open to whoever holds one.
  app.use(inviteRoutes({ repos, access: deps.access }));

  // Everything below needs a session.
  app.use(requireUser);
  app.use(auditAdminWrites({ repos, logger }));
  app.get('/', allow.readers, (_req, res) => res.redirect(303, '/containers'));
  app.use(wizardRoutes(deps)); // before containerRoutes: /containers/new is not a container id
  app.use(containerRoutes(deps, containerFragments, streams));
  app.use(historyRoutes({ repos }, containerFragments));
  app.use(templateRoutes({
    templates: repos.templates, packageSets: repos.packageSets, templateTests: repos.templateTests, queue: deps.queue, redis: deps.redis,
    testFragments: createTemplateTestFragments(app.locals.views), templatesDir: config.templatesDir, heartbeatMs: config.sse.heartbeatMs, access: deps.access, logger,
  }));
  app.use(packageSetRoutes({ packageSets: repos.packageSets }));
  app.use(userRoutes({ repos, access: deps.access }, { users: repos.users, settings: repos.settings, nodes: repos.nodes, secrets: deps.secrets, logger }));
  app.use(accountRoutes({ repos, access: deps.access, redis: deps.redis, logger, secrets: deps.secrets, rateLimitPrefix: `${config.queuePrefix}:rl:` }));
  app.use(auditRoutes({ repos, logger }));
  app.use(nodeRoutes({ repos, secrets: deps.secrets, redis: deps.redis, rateLimitPrefix: `${config.queuePrefix}:rl:fingerprints:` }));

  app.use(notFound);
  app.use(errorHandler);
  return app;
}
