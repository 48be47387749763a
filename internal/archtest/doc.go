// Package archtest holds no code: its test checks that imports point the way
// ARCHITECTURE's arrows do (components never link ClickHouse's client except the ones that
// talk to ClickHouse, rollup imports no component, the analyzer no exporter).
package archtest
