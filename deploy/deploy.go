// Package deploy holds how orderflow runs outside `make run`: the container
// image (Dockerfile), the Kubernetes manifests (k8s/: a Kustomize base, an
// optional KEDA component and a production overlay) and, at the repository
// root, docker-compose.yml and .dockerignore. The package has no code; its
// tests render the manifests and check what docs/DEPLOY.md promises.
package deploy
