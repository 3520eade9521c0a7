package main

// The routes part of the facts, read from the HTTP server's source:
//
//   - vmm/src/api/http/mod.rs: HTTP_ROUTES inserts endpoint!("/path") with a
//     handler, VmActionHandler::new(&Action) or a special one (VmCreate {});
//     a #[cfg] on the insert gates the route;
//   - vmm/src/api/http/http_endpoint.rs: which methods each handler serves.
//     A special handler's handle_request matches Method::Put/Get; the
//     VmActionHandler delegates PUT and GET to the action's PutHandler and
//     GetHandler impls, written by hand or by the vm_action_*_handler!
//     macros, whose definitions say which of the two they implement (an
//     empty impl keeps the trait's default: 400 Bad Request);
//   - vmm/src/api/mod.rs: the action's RequestBody and ResponseBody;
//   - vmm/src/vm.rs: for actions whose ResponseBody is an opaque Option<Body>,
//     the Vm method the route names (vm.add-disk → Vm::add_disk) returns what
//     the VMM serializes into the answer (PciDeviceInfo for every add-*).

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// Files of the server that the routes are read from.
const (
	httpRoutesFile   = "vmm/src/api/http/mod.rs"
	httpEndpointFile = "vmm/src/api/http/http_endpoint.rs"
	apiActionsFile   = "vmm/src/api/mod.rs"
	vmFile           = "vmm/src/vm.rs"
)

// routeInsert is one endpoint!(…) insert of HTTP_ROUTES.
type routeInsert struct {
	path, handler, action string
	cfg                   cfgSet
}

// scanRouteInserts finds the route inserts of mod.rs: endpoint!("/p"),
// the handler expression after it, and the #[cfg] of its statement.
func scanRouteInserts(src string) ([]routeInsert, error) {
	toks, err := lexRust(src)
	if err != nil {
		return nil, err
	}
	var out []routeInsert
	var pending cfgSet
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.is("#") && i+1 < len(toks) && toks[i+1].is("["):
			p := &rsParser{toks: toks, pos: i + 1}
			body, err := p.group()
			if err != nil {
				return nil, err
			}
			cfg, err := attrCfg([]rsAttr{parseAttr(body)})
			if err != nil {
				return nil, err
			}
			pending = pending.and(cfg)
			i = p.pos - 1
		case t.is(";"):
			pending = nil
		case t.is("endpoint") && i+4 < len(toks) && toks[i+1].is("!") && toks[i+2].is("(") &&
			toks[i+3].Kind == rsString && toks[i+4].is(")"):
			if i+5 >= len(toks) || !toks[i+5].is(",") {
				return nil, fmt.Errorf("line %d: endpoint!(%q) is not followed by a handler", t.Line, toks[i+3].Value)
			}
			p := &rsParser{toks: toks, pos: i + 6}
			expr := p.until(false, ")", ",")
			r := routeInsert{path: toks[i+3].Value, cfg: pending}
			if len(expr) < 4 || !expr[0].is("Box") || !expr[2].is("new") || !expr[3].is("(") {
				return nil, fmt.Errorf("line %d: the handler of %s is not Box::new(…): %s", t.Line, r.path, typeText(expr))
			}
			inner := expr[4:]
			if len(inner) == 0 || inner[0].Kind != rsIdent {
				return nil, fmt.Errorf("line %d: the handler of %s is not a type: %s", t.Line, r.path, typeText(expr))
			}
			r.handler = inner[0].Text
			if amp := slices.IndexFunc(inner, func(t rsToken) bool { return t.is("&") }); amp >= 0 && amp+1 < len(inner) {
				r.action = inner[amp+1].Text
			}
			out = append(out, r)
			i = p.pos - 1
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no endpoint!(…) route inserts")
	}
	return out, nil
}

// methodImpl says whether a handler serves a method and how it reads a body.
type methodImpl struct {
	serves bool
	body   string // "json" when it parses a JSON body, else "none"
	cfg    cfgSet
}

// bodyKind tells from a handler's tokens whether it parses a JSON body.
func bodyKind(toks []rsToken) string {
	if slices.ContainsFunc(toks, func(t rsToken) bool { return t.is("from_slice") }) {
		return "json"
	}
	return "none"
}

// endpointHandler is what http_endpoint.rs says of one EndpointHandler impl.
type endpointHandler struct {
	methods  map[string]methodImpl // from its own handle_request or put/get_handler
	delegate map[string]bool       // methods it passes to its action's Put/GetHandler
	action   string                // the api action a special handler sends
}

// actionHandlers maps an action to its "PUT" and "GET" handler impls.
type actionHandlers map[string]map[string]methodImpl

// readEndpoints reads the handlers of http_endpoint.rs.
func readEndpoints(items []rsItem) (map[string]*endpointHandler, actionHandlers, error) {
	macros := map[string]map[string]methodImpl{}
	handlers := map[string]*endpointHandler{}
	actions := actionHandlers{}
	set := func(action, method string, m methodImpl) {
		if actions[action] == nil {
			actions[action] = map[string]methodImpl{}
		}
		actions[action][method] = m
	}
	traitMethod := map[string]string{"PutHandler": "PUT", "GetHandler": "GET"}
	var walk func([]rsItem) error
	walk = func(items []rsItem) error {
		for i := range items {
			it := &items[i]
			cfg, err := attrCfg(it.Attrs)
			if err != nil {
				return err
			}
			switch {
			case it.Kind == rsMod:
				if err := walk(it.Items); err != nil {
					return err
				}
			case it.Kind == rsMacroRules:
				macros[it.Name] = macroHandlers(it.Value)
			case it.Kind == rsImpl && traitMethod[it.Trait] != "":
				set(it.Name, traitMethod[it.Trait], methodImpl{serves: len(it.Items) > 0, body: bodyKind(implTokens(it)), cfg: cfg})
			case it.Kind == rsImpl && it.Trait == "EndpointHandler":
				h := &endpointHandler{methods: map[string]methodImpl{}, delegate: map[string]bool{}}
				for _, fn := range it.Items {
					switch fn.Name {
					case "handle_request":
						for j := 0; j+3 < len(fn.Value); j++ {
							if fn.Value[j].is("Method") && fn.Value[j+1].is("::") && fn.Value[j+2].Kind == rsIdent && fn.Value[j+3].is("=>") {
								h.methods[strings.ToUpper(fn.Value[j+2].Text)] = methodImpl{serves: true, body: bodyKind(fn.Value)}
							}
						}
						h.action = sentAction(fn.Value)
					case "put_handler", "get_handler":
						method := strings.ToUpper(strings.TrimSuffix(fn.Name, "_handler"))
						trait := map[string]string{"PUT": "PutHandler", "GET": "GetHandler"}[method]
						if slices.ContainsFunc(fn.Value, func(t rsToken) bool { return t.is(trait) }) {
							h.delegate[method] = true
						} else {
							h.methods[method] = methodImpl{serves: true, body: bodyKind(fn.Value)}
						}
					}
				}
				handlers[it.Name] = h
			}
		}
		return nil
	}
	if err := walk(items); err != nil {
		return nil, nil, err
	}
	// macro calls, once every macro is known
	var calls func([]rsItem) error
	calls = func(items []rsItem) error {
		for _, it := range items {
			if it.Kind == rsMod {
				if err := calls(it.Items); err != nil {
					return err
				}
			}
			m, ok := macros[it.Name]
			if it.Kind != rsMacroCall || !ok {
				continue
			}
			cfg, err := attrCfg(it.Attrs)
			if err != nil {
				return err
			}
			if len(it.Value) != 1 || it.Value[0].Kind != rsIdent {
				return fmt.Errorf("%s!(%s): want one action type", it.Name, typeText(it.Value))
			}
			for method, impl := range m {
				impl.cfg = cfg
				set(it.Value[0].Text, method, impl)
			}
		}
		return nil
	}
	if err := calls(items); err != nil {
		return nil, nil, err
	}
	return handlers, actions, nil
}

// implTokens returns every token of an impl's function bodies.
func implTokens(it *rsItem) []rsToken {
	var out []rsToken
	for _, fn := range it.Items {
		out = append(out, fn.Value...)
	}
	return out
}

// sentAction finds the api action a handler body sends: api::VmCreate.send.
func sentAction(toks []rsToken) string {
	for j := 0; j+4 < len(toks); j++ {
		if toks[j].is("api") && toks[j+1].is("::") && toks[j+2].Kind == rsIdent && toks[j+3].is(".") && toks[j+4].is("send") {
			return toks[j+2].Text
		}
	}
	return ""
}

// macroHandlers reads a macro_rules! body for the handler impls it writes:
// impl PutHandler for $action { … } serves PUT; an empty {} does not.
func macroHandlers(body []rsToken) map[string]methodImpl {
	out := map[string]methodImpl{}
	for j := 0; j+5 < len(body); j++ {
		method := map[string]string{"PutHandler": "PUT", "GetHandler": "GET"}[body[j+1].Text]
		if !body[j].is("impl") || method == "" || !body[j+2].is("for") || !body[j+3].is("$") {
			continue
		}
		p := &rsParser{toks: body, pos: j + 5}
		if !p.at(0).is("{") {
			continue
		}
		inner, err := p.group()
		if err != nil {
			continue
		}
		out[method] = methodImpl{serves: len(inner) > 0, body: bodyKind(inner)}
	}
	return out
}

// apiAction is an ApiAction impl's associated types.
type apiAction struct {
	request, response []rsToken
	cfg               cfgSet
}

// readAPIActions reads the ApiAction impls of vmm/src/api/mod.rs.
func readAPIActions(items []rsItem) map[string]apiAction {
	out := map[string]apiAction{}
	for _, it := range items {
		if it.Kind != rsImpl || it.Trait != "ApiAction" {
			continue
		}
		cfg, _ := attrCfg(it.Attrs)
		a := apiAction{cfg: cfg}
		for _, sub := range it.Items {
			switch {
			case sub.Kind == rsTypeAlias && sub.Name == "RequestBody":
				a.request = sub.Type
			case sub.Kind == rsTypeAlias && sub.Name == "ResponseBody":
				a.response = sub.Type
			}
		}
		out[it.Name] = a
	}
	return out
}

// unwrapType returns the argument of a wrapper type (Box<T>, Result<T>,
// Result<T, E>) and whether toks was one.
func unwrapType(toks []rsToken, wrapper string) ([]rsToken, bool) {
	if len(toks) < 4 || !toks[0].is(wrapper) || !toks[1].is("<") {
		return toks, false
	}
	args := splitTop(genericArgs(toks), ",")
	return args[0], true
}

// isOpaqueBody reports whether a ResponseBody is micro_http's Option<Body>.
func isOpaqueBody(toks []rsToken) bool { return typeText(toks) == "Option<Body>" }

// isUnit reports whether a type is ().
func isUnit(toks []rsToken) bool { return typeText(toks) == "()" }

// routeRoot is a type to walk from, as the request or response of a route.
type routeRoot struct {
	typ   []rsToken
	scope *rsScope
	dir   string
}

// extractRoutes reads the routes and returns them with the types they
// take and return.
func extractRoutes(x *rsIndex, tree sourceTree) ([]routeFact, []routeRoot, error) {
	var scopes [4]*rsScope
	for i, f := range []string{httpRoutesFile, httpEndpointFile, apiActionsFile, vmFile} {
		sc, err := x.scopeFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("the server's routes: %w", err)
		}
		scopes[i] = sc
	}
	endpointSc, apiSc, vmSc := scopes[1], scopes[2], scopes[3]
	src, err := tree.Read(httpRoutesFile)
	if err != nil {
		return nil, nil, err
	}
	inserts, err := scanRouteInserts(src)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", httpRoutesFile, err)
	}
	handlers, actions, err := readEndpoints(endpointSc.items)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", httpEndpointFile, err)
	}
	api := readAPIActions(apiSc.items)
	vmMethods := map[string][]rsToken{}
	for key, defs := range x.assoc {
		if owner, name, _ := strings.Cut(key, "::"); owner == "Vm" {
			for _, d := range defs {
				if d.Scope.File == vmFile && d.Item.Kind == rsFn {
					vmMethods[name] = d.Item.Type
				}
			}
		}
	}

	var routes []routeFact
	var roots []routeRoot
	for _, in := range inserts {
		h := handlers[in.handler]
		if h == nil {
			return nil, nil, fmt.Errorf("%s: route %s: no EndpointHandler impl for %s in %s", httpRoutesFile, in.path, in.handler, httpEndpointFile)
		}
		rf := routeFact{Path: in.path, Handler: in.handler, Action: in.action}
		cfg := in.cfg
		body := ""
		for _, method := range slices.Sorted(maps.Keys(h.methods)) {
			if m := h.methods[method]; m.serves {
				rf.Methods = append(rf.Methods, method)
				if method == "PUT" {
					body = m.body
				}
			}
		}
		if rf.Action == "" {
			rf.Action = h.action
		}
		for _, method := range slices.Sorted(maps.Keys(h.delegate)) {
			m, ok := actions[rf.Action][method]
			if !ok {
				return nil, nil, fmt.Errorf("%s: route %s: action %s has no %s handler impl", httpEndpointFile, in.path, rf.Action, method)
			}
			if m.serves {
				rf.Methods = append(rf.Methods, method)
				cfg = cfg.and(m.cfg)
				if method == "PUT" {
					body = m.body
				}
			}
		}
		sort.Strings(rf.Methods)
		if slices.Contains(rf.Methods, "PUT") {
			rf.Body = body
		}
		rf.Cfg, rf.Features = cfg.text(), cfg.features()
		a, ok := api[rf.Action]
		if !ok {
			return nil, nil, fmt.Errorf("%s: route %s: no ApiAction impl for %q in %s", httpRoutesFile, in.path, rf.Action, apiActionsFile)
		}
		if rf.Body == "json" && !isUnit(a.request) {
			req, _ := unwrapType(a.request, "Box")
			rf.Request = typeText(req)
			roots = append(roots, routeRoot{typ: req, scope: apiSc, dir: "request"})
		}
		switch {
		case isOpaqueBody(a.response):
			method := strings.ReplaceAll(strings.TrimPrefix(in.path, "/vm."), "-", "_")
			if ret, ok := vmMethods[method]; ok {
				if inner, ok := unwrapType(ret, "Result"); ok && !isUnit(inner) {
					rf.Response = typeText(inner)
					roots = append(roots, routeRoot{typ: inner, scope: vmSc, dir: "response"})
				}
			}
		case !isUnit(a.response) && len(a.response) > 0:
			rf.Response = typeText(a.response)
			roots = append(roots, routeRoot{typ: a.response, scope: apiSc, dir: "response"})
		}
		routes = append(routes, rf)
	}
	sort.Slice(routes, func(i, j int) bool { return routes[i].Path < routes[j].Path })
	for i := 1; i < len(routes); i++ {
		if routes[i].Path == routes[i-1].Path {
			return nil, nil, fmt.Errorf("%s routes %s twice", httpRoutesFile, routes[i].Path)
		}
	}
	return routes, roots, nil
}
