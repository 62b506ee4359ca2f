# logmesh — the two commands are `make run` and `make test`.
GO      ?= go
DATA    ?= ./.logmesh
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
FUZZTIME ?= 10s

.PHONY: run build test vet test-kafka test-s3 test-e2e-real test-browser test-spark bench fuzz clean

## run: start the platform on its embedded defaults (Kafka, registry, warehouse under $(DATA))
run:
	$(GO) run -ldflags '$(LDFLAGS)' ./cmd/logmesh dev --data $(DATA)

## build: build bin/logmesh
build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/logmesh ./cmd/logmesh

## test: vet, then every test with the race detector on the embedded Kafka (kfake)
test: vet
	$(GO) test -race -shuffle=on -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...

## test-kafka: the integration tests against a real Apache Kafka broker (started and stopped here)
test-kafka:
	bash deploy/kafka/test.sh

## test-s3: the S3 tests against a real MinIO server (built with go install, started and stopped here)
test-s3:
	bash deploy/minio/test.sh

## test-e2e-real: the ingestion end-to-end suite with every topic on a real Kafka and every file in a real MinIO
test-e2e-real:
	bash deploy/test-e2e-real.sh

## test-browser: the web console in headless Chromium (chromedp; installs Debian's chromium when absent); screenshots under .artifacts/browser/
test-browser:
	bash deploy/chromium/test.sh

## test-spark: Apache Spark 3.5 (pyspark + Iceberg's Spark runtime) reads a dev platform's Iceberg REST catalog with a domain's token, and commits an INSERT to its own product through it
test-spark:
	bash deploy/spark/test.sh

## bench: throughput figures, each beside a baseline measured in the same run (franz-go, DuckDB, ...), as ratios
bench:
	$(GO) run ./bench/report

## fuzz: every fuzz target of the module (found by deploy/fuzz.sh with go test -list), FUZZTIME each; stops at the first failure
fuzz:
	GO='$(GO)' FUZZTIME='$(FUZZTIME)' bash deploy/fuzz.sh

clean:
	rm -rf bin $(DATA)

## test-rss: ingest a generated 1 GB CSV through the loader in-process; fails if peak RSS reaches 300 MB
.PHONY: test-rss
test-rss:
	$(GO) run ./bench/rsscheck
