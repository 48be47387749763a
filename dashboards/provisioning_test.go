package dashboards

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// The provisioning files are valid YAML and agree with the dashboards: the data source has
// the plugin type and uid the dashboards point at and uses the native protocol, with its
// address and database from the environment.
func TestProvisioning(t *testing.T) {
	t.Parallel()
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, UID, Type string
			JSONData        map[string]any    `yaml:"jsonData"`
			SecureJSONData  map[string]string `yaml:"secureJsonData"`
		} `yaml:"datasources"`
	}
	b, err := os.ReadFile("provisioning/datasources/clickhouse.yaml")
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, &ds))
	assert.Equal(t, 1, ds.APIVersion)
	require.Len(t, ds.Datasources, 1)
	d := ds.Datasources[0]
	assert.Equal(t, DatasourceUID, d.UID)
	assert.Equal(t, PluginID, d.Type)
	assert.Equal(t, "native", d.JSONData["protocol"])
	assert.Equal(t, "${WEIR_CLICKHOUSE_HOST}", d.JSONData["host"])
	assert.Equal(t, "${WEIR_CLICKHOUSE_TCP_PORT}", d.JSONData["port"])
	assert.Equal(t, "${WEIR_CLICKHOUSE_DATABASE}", d.JSONData["defaultDatabase"])
	assert.Equal(t, "${WEIR_CLICKHOUSE_PASSWORD}", d.SecureJSONData["password"])

	var dp struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Type string
			Options    map[string]any
		}
	}
	b, err = os.ReadFile("provisioning/dashboards/weir.yaml")
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, &dp))
	assert.Equal(t, 1, dp.APIVersion)
	require.Len(t, dp.Providers, 1)
	assert.Equal(t, "file", dp.Providers[0].Type)
	assert.Equal(t, "${WEIR_DASHBOARDS_DIR}", dp.Providers[0].Options["path"])
}
