// Package deployments holds no code: it is where the deployment files
// live (a Dockerfile, a compose file, Kubernetes manifests and a systemd
// unit), and its tests check them against the evlog binary they deploy.
package deployments
