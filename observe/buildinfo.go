package observe

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/internal/buildinfo"
)

// buildInfoDesc describes orderflow_build_info: always 1, labelled with the
// version and commit the binary was stamped with (internal/buildinfo; make
// build and deploy/Dockerfile set them with -ldflags -X).
var buildInfoDesc = prometheus.NewDesc(
	"orderflow_build_info",
	"Always 1; labelled with the version and commit orderflow was built from (internal/buildinfo, stamped with -ldflags -X).",
	[]string{"version", "commit"}, nil,
)

// buildInfoCollector exposes orderflow_build_info, reading buildinfo.Get()
// at each scrape.
type buildInfoCollector struct{}

func (buildInfoCollector) Describe(ch chan<- *prometheus.Desc) { ch <- buildInfoDesc }

func (buildInfoCollector) Collect(ch chan<- prometheus.Metric) {
	version, commit := buildinfo.Get()
	ch <- prometheus.MustNewConstMetric(buildInfoDesc, prometheus.GaugeValue, 1, version, commit)
}

func init() {
	Registry.MustRegister(buildInfoCollector{})
}
