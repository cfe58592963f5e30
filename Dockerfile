# syntax=docker/dockerfile:1
# DealScale agent-services: one image for the gateway and the workers (DEALSCALE_ROLES picks).
#
# Runtime environment:
#   PORT              HTTP port (default 8080)
#   DATABASE_URL      postgres://... a role that may migrate (the gateway migrates on start)
#   APP_DB_ROLE       role the app queries as (never bypasses RLS; default dealscale_app)
#   APP_DB_PASSWORD   its password
#   REDIS_URL         redis://...
#   A2A_JWT_SECRET    HS256 secret, at least 32 characters (required: NODE_ENV=production)
#   DEALSCALE_ROLES   comma list of gateway,worker
#   WORKER_AGENTS     comma list of agent ids whose queues this process works (default: all)

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: all dependencies, compile TypeScript ------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Manifests first so the npm ci layer is cached until a dependency changes.
COPY package.json package-lock.json ./
COPY db/package.json db/
COPY a2a-client/package.json a2a-client/
COPY agent-services/package.json agent-services/
COPY kestra-runner/package.json kestra-runner/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY db/ db/
# The task view's type comes from the client package (types only; nothing of it runs in the image).
COPY a2a-client/ a2a-client/
COPY agent-services/ agent-services/
RUN npm run build

# ---- deps: production dependencies only ---------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY db/package.json db/
COPY a2a-client/package.json a2a-client/
COPY agent-services/package.json agent-services/
COPY kestra-runner/package.json kestra-runner/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=8080
WORKDIR /app
# Files stay owned by root: the service user can read but not modify its own code.
COPY --from=deps /app/node_modules node_modules/
COPY package.json package-lock.json ./
COPY db/ db/
COPY --from=build /app/agent-services/package.json agent-services/
COPY --from=build /app/agent-services/dist agent-services/dist/
USER node
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "require('http').get('http://127.0.0.1:'+(process.env.PORT||8080)+'/health',r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"]
CMD ["node", "agent-services/dist/main.js"]
