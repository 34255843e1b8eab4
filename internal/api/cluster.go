package api

import (
	"net/http"

	"github.com/vigilrec/vigil/internal/auth"
	"github.com/vigilrec/vigil/internal/cluster"
)

func (s *Server) clusterRoutes() {
	s.handle("GET /api/v1/cluster", everyStream(auth.Admin), s.handleCluster)
}

// handleCluster serves GET /api/v1/cluster: this node and the live nodes of the registry with
// their load, as Redis holds them now (503 while Redis is unreachable).
func (s *Server) handleCluster(w http.ResponseWriter, r *http.Request) {
	c := s.deps.Cluster
	if c == nil {
		writeJSON(w, http.StatusOK, map[string]any{"enabled": false})
		return
	}
	nodes, err := c.Nodes(r.Context())
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	if nodes == nil {
		nodes = []cluster.Node{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"enabled": true, "self": c.Self().ID, "nodes": nodes})
}
