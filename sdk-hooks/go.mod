module github.com/fleetlens/fleetlens/sdk-hooks

go 1.26.0
