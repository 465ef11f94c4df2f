package main

// Strict decoding of rendered manifests into the typed structs of k8s.io/api:
// one release of the API types is the schema, with no download.

import (
	"bytes"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
)

// object is one decoded document: where it came from and its typed value.
type object struct {
	doc  int // 1-based position in the stream
	kind string
	name string
	ns   string
	obj  runtime.Object
}

func (o object) String() string { return fmt.Sprintf("%s/%s", o.kind, o.name) }

// newDecoder returns a YAML decoder that knows only the groups Tally's
// manifests may use and refuses unknown or duplicate fields (strict mode):
// a misspelt field would otherwise be dropped without a word by the API
// server's older clients, and a field of the wrong type fails to decode.
func newDecoder() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme,
		autoscalingv2.AddToScheme, policyv1.AddToScheme, networkingv1.AddToScheme,
	} {
		utilruntime.Must(add(scheme))
	}
	return kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
}

// splitDocuments splits a multi-document YAML stream on "---" lines;
// documents holding only comments or blanks are dropped.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		if hasContent(cur.Bytes()) {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
		}
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if strings.TrimRight(line, " \t\r\n") == "---" {
			flush()
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return docs
}

func hasContent(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") {
			return true
		}
	}
	return false
}

// decodeAll decodes every document; each refusal is one error naming the
// document's position, its kind and name when they could be read, and why.
func decodeAll(data []byte) ([]object, []string) {
	dec := newDecoder()
	var objs []object
	var errs []string
	for i, doc := range splitDocuments(data) {
		obj, gvk, err := dec.Decode(doc, nil, nil)
		if err != nil {
			what := fmt.Sprintf("document %d", i+1)
			if gvk != nil && gvk.Kind != "" {
				what += " (" + gvk.GroupVersion().String() + " " + gvk.Kind + ")"
			}
			errs = append(errs, fmt.Sprintf("%s: %v", what, err))
			continue
		}
		meta, ok := obj.(interface {
			GetName() string
			GetNamespace() string
		})
		if !ok || meta.GetName() == "" {
			errs = append(errs, fmt.Sprintf("document %d (%s): no metadata.name", i+1, gvk.Kind))
			continue
		}
		objs = append(objs, object{doc: i + 1, kind: gvk.Kind, name: meta.GetName(), ns: meta.GetNamespace(), obj: obj})
	}
	return objs, errs
}
