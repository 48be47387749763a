package main

import (
	"fmt"
	"net"
	"strings"
)

// checkSelfMetricsEnv checks WEIR_SELF_METRICS_ENDPOINT, which config/weir.yaml turns into
// the OTLP/HTTP endpoint weir pushes its own metrics to. A wrong value does not stop the
// collector from starting: it logs "malformed HTTP response" at every interval and stores
// none of weir's metrics. So it is refused up front, with what to write instead.
func checkSelfMetricsEnv(getenv func(string) string) error {
	v := getenv("WEIR_SELF_METRICS_ENDPOINT")
	if v == "" {
		return nil
	}
	const what = "WEIR_SELF_METRICS_ENDPOINT"
	if strings.Contains(v, "://") {
		return fmt.Errorf("%s=%q: give host:port of an OTLP/HTTP receiver, without a scheme (weir adds http://), e.g. 127.0.0.1:4318", what, v)
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil || port == "" {
		return fmt.Errorf("%s=%q: want host:port of an OTLP/HTTP receiver, e.g. 127.0.0.1:4318", what, v)
	}
	grpc := getenv("WEIR_OTLP_GRPC_ENDPOINT")
	if grpc == "" {
		grpc = "0.0.0.0:4317"
	}
	if _, grpcPort, err := net.SplitHostPort(grpc); err == nil && grpcPort == port {
		http := getenv("WEIR_OTLP_HTTP_ENDPOINT")
		if http == "" {
			http = "0.0.0.0:4318"
		}
		return fmt.Errorf("%s=%q names weir's OTLP/gRPC port (%s); weir pushes its own metrics over OTLP/HTTP: "+
			"use the HTTP port (WEIR_OTLP_HTTP_ENDPOINT, %s), or leave it unset to push to weir's own", what, v, port, http)
	}
	return nil
}
