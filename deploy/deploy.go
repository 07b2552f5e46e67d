// Package deploy holds how orderflow runs outside `make run`: the container
// image (Dockerfile), the Kubernetes manifests (k8s/: a Kustomize base with
// the workers, the API, the migrate and schedules Jobs and their network
// policies, an optional KEDA component and a production overlay), the
// monitoring (monitoring/: PodMonitors, alerting rules, a Grafana
// dashboard) and, at the repository root, docker-compose.yml and
// .dockerignore. The package has no code; its tests render the manifests,
// validate them offline against the Kubernetes, KEDA and Prometheus
// Operator schemas and the restricted Pod Security Standard, and check what
// docs/DEPLOY.md promises.
package deploy
