PY ?= .venv/bin/python
PROTO_OUT := .

.PHONY: proto proto-check
proto:
	$(PY) -m grpc_tools.protoc -I proto --python_out=$(PROTO_OUT) --pyi_out=$(PROTO_OUT) --grpc_python_out=$(PROTO_OUT) $$(find proto -name '*.proto' | sort)
	find picopt -type d -path '*/v1' | while read d; do touch "$$d/__init__.py" "$$(dirname $$d)/__init__.py"; done
