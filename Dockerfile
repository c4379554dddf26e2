# ccm service image; also runs the Mosquitto agent (node packages/mosquitto-agent/dist/src/main.js).
# Build: docker build -t ccm .
# No HEALTHCHECK here: the agent runs from this image too. docker-compose.yml and
# deploy/kubernetes/ probe GET /health/live and /health/ready on CCM_PORT.
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json ./
COPY packages ./packages
RUN npm ci
COPY src ./src
RUN npm run build --workspaces --if-present && npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production CCM_HOST=0.0.0.0 CCM_PORT=8080
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
# The workspace packages (node_modules/@ccm/* link here): the event contract, and the broker agents compose runs from this image.
COPY --from=build /app/packages ./packages
COPY package.json ./
# uid 1000; ccm writes nothing with PostgreSQL, Vault custody and CCM_ADMIN_API_KEY set,
# so the root filesystem can be read-only.
USER node
# API, and the Prometheus listener when CCM_METRICS_PORT=9464.
EXPOSE 8080 9464
CMD ["node", "dist/src/main.js"]
