package main

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if weirBinDir != "" {
		_ = os.RemoveAll(weirBinDir)
	}
	os.Exit(code)
}
