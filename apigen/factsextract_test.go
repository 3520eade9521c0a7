package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// miniCH is a small tree in the shape of Cloud Hypervisor's, written for
// these tests: the files facts are read from, with the constructs they use.
func miniCH() memTree {
	return memTree{
		"Cargo.toml":                "[package]\nauthors = [\"x\"]\nname = \"cloud-hypervisor\"\n\n[workspace]\nmembers = [\"vmm\"]\n",
		"vmm/Cargo.toml":            "[package]\nauthors = [\"The Authors\"]\nedition.workspace = true\nname = \"vmm\"\n\n[dependencies]\nname = \"not this\"\n",
		"arch/Cargo.toml":           "[package]\nname = \"arch\"\n",
		"net_util/Cargo.toml":       "[package]\nname = \"net_util\"\n",
		"virtio-devices/Cargo.toml": "[package]\nname = \"virtio-devices\"\n",
		"fuzz/src/lib.rs":           "#[derive(Deserialize)] pub struct VmConfig { pub fuzz: u8 }\n",
		"src/main.rs":               "fn main() {}\n",
		"vmm/src/lib.rs": `
pub mod api;
pub mod vm;
pub mod vm_config;
#[cfg(test)]
mod tests;

pub struct PciDeviceInfo {
    pub id: String,
    pub bdf: PciBdf,
}

impl Serialize for PciDeviceInfo {
    fn serialize<S>(&self, serializer: S) -> Result<S::Ok, S::Error> where S: Serializer {
        let mut state = serializer.serialize_struct("PciDeviceInfo", 2)?;
        state.serialize_field("id", &self.id)?;
        state.serialize_field("bdf", &self.bdf.to_string())?;
        state.end()
    }
}
`,
		"vmm/src/tests.rs": "#[derive(Deserialize)] pub struct VmInfoResponse { pub test_only: u8 }\n",
		"vmm/src/api/http/mod.rs": `
use self::http_endpoint::{VmActionHandler, VmCreate, VmInfo};
pub mod http_endpoint;

macro_rules! endpoint {
    ($path:expr) => {
        format!("{}{}", HTTP_ROOT, $path)
    };
}

/// HTTP_ROUTES contain all the routes.
pub static HTTP_ROUTES: LazyLock<HttpRoutes> = LazyLock::new(|| {
    let mut r = HttpRoutes {
        routes: BTreeMap::new(),
    };
    r.routes.insert(
        endpoint!("/vm.add-net"),
        Box::new(VmActionHandler::new(&VmAddNet)),
    );
    r.routes.insert(endpoint!("/vm.boot"), Box::new(VmActionHandler::new(&VmBoot)));
    r.routes.insert(endpoint!("/vm.counters"), Box::new(VmActionHandler::new(&VmCounters)));
    r.routes
        .insert(endpoint!("/vm.create"), Box::new(VmCreate {}));
    #[cfg(all(target_arch = "x86_64", feature = "guest_debug"))]
    r.routes.insert(
        endpoint!("/vm.coredump"),
        Box::new(VmActionHandler::new(&VmCoredump)),
    );
    r.routes.insert(endpoint!("/vm.info"), Box::new(VmInfo {}));
    r
});
`,
		"vmm/src/api/http/http_endpoint.rs": `
use crate::api::{ApiAction, VmConfig};

pub struct VmCreate {}

impl EndpointHandler for VmCreate {
    fn handle_request(&self, req: &Request, api_notifier: EventFd, api_sender: Sender<ApiRequest>) -> Response {
        match req.method() {
            Method::Put => {
                let vm_config: Box<VmConfig> = match serde_json::from_slice(body.raw()) { Ok(c) => c, Err(e) => return e };
                match crate::api::VmCreate.send(api_notifier, api_sender, vm_config) { _ => todo!() }
            }
            _ => error_response(HttpError::BadRequest, StatusCode::BadRequest),
        }
    }
}

pub struct VmInfo {}

impl EndpointHandler for VmInfo {
    fn handle_request(&self, req: &Request, api_notifier: EventFd, api_sender: Sender<ApiRequest>) -> Response {
        match req.method() {
            Method::Get => match api::VmInfo.send(api_notifier, api_sender, ()) { _ => todo!() },
            _ => error_response(HttpError::BadRequest, StatusCode::BadRequest),
        }
    }
}

macro_rules! vm_action_get_handler {
    ($action:ty) => {
        impl GetHandler for $action {
            fn handle_request(&'static self, n: EventFd, s: Sender<ApiRequest>) -> R {
                self.send(n, s, ()).map_err(HttpError::ApiError)
            }
        }

        impl PutHandler for $action {}
    };
}

macro_rules! vm_action_put_handler {
    ($action:ty) => {
        impl PutHandler for $action {
            fn handle_request(&'static self, n: EventFd, s: Sender<ApiRequest>, body: &Option<Body>, _files: Vec<File>) -> R {
                if body.is_some() { Err(HttpError::BadRequest) } else { self.send(n, s, ()).map_err(HttpError::ApiError) }
            }
        }

        impl GetHandler for $action {}
    };
}

macro_rules! vm_action_put_handler_body {
    ($action:ty) => {
        impl PutHandler for $action {
            fn handle_request(&'static self, n: EventFd, s: Sender<ApiRequest>, body: &Option<Body>, _files: Vec<File>) -> R {
                if let Some(body) = body { self.send(n, s, serde_json::from_slice(body.raw())?) } else { Err(HttpError::BadRequest) }
            }
        }

        impl GetHandler for $action {}
    };
}

vm_action_get_handler!(VmCounters);
vm_action_put_handler!(VmBoot);

#[cfg(all(target_arch = "x86_64", feature = "guest_debug"))]
vm_action_put_handler_body!(VmCoredump);

impl PutHandler for VmAddNet {
    fn handle_request(&'static self, n: EventFd, s: Sender<ApiRequest>, body: &Option<Body>, mut files: Vec<File>) -> R {
        let net_cfg: NetConfig = serde_json::from_slice(body.raw())?;
        self.send(n, s, net_cfg).map_err(HttpError::ApiError)
    }
}

impl GetHandler for VmAddNet {}

pub struct VmActionHandler {
    action: &'static dyn HttpVmAction,
}

impl EndpointHandler for VmActionHandler {
    fn put_handler(&self, n: EventFd, s: Sender<ApiRequest>, body: &Option<Body>, files: Vec<File>) -> R {
        PutHandler::handle_request(self.action, n, s, body, files)
    }

    fn get_handler(&self, n: EventFd, s: Sender<ApiRequest>, _body: &Option<Body>) -> R {
        GetHandler::handle_request(self.action, n, s)
    }
}
`,
		"vmm/src/api/mod.rs": `
pub mod http;
pub use crate::vm_config::{NetConfig, VmConfig};
use crate::vm::VmState;

#[derive(Clone, Deserialize, Serialize)]
pub struct VmInfoResponse {
    pub config: Box<VmConfig>,
    pub state: VmState,
    pub memory_actual_size: u64,
}

#[derive(Clone, Deserialize, Serialize, Default, Debug)]
pub struct VmCoredumpData {
    pub destination_url: String,
}

pub struct VmAddNet;
impl ApiAction for VmAddNet {
    type RequestBody = NetConfig;
    type ResponseBody = Option<Body>;
    fn request(&self, config: Self::RequestBody, response_sender: Sender<ApiResponse>) -> ApiRequest { todo!() }
}
pub struct VmBoot;
impl ApiAction for VmBoot {
    type RequestBody = ();
    type ResponseBody = Option<Body>;
}
pub struct VmCounters;
impl ApiAction for VmCounters {
    type RequestBody = ();
    type ResponseBody = Option<Body>;
}
pub struct VmCreate;
impl ApiAction for VmCreate {
    type RequestBody = Box<VmConfig>;
    type ResponseBody = ();
}
#[cfg(all(target_arch = "x86_64", feature = "guest_debug"))]
pub struct VmCoredump;
#[cfg(all(target_arch = "x86_64", feature = "guest_debug"))]
impl ApiAction for VmCoredump {
    type RequestBody = VmCoredumpData;
    type ResponseBody = Option<Body>;
}
pub struct VmInfo;
impl ApiAction for VmInfo {
    type RequestBody = ();
    type ResponseBody = VmInfoResponse;
}
`,
		"vmm/src/vm.rs": `
use crate::PciDeviceInfo;

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum VmState {
    Created,
    Running,
    #[serde(alias = "stopped")]
    Shutdown,
    #[serde(skip)]
    BreakPoint,
}

pub struct Vm {}

impl Vm {
    pub fn add_net(&mut self, net_cfg: NetConfig) -> Result<PciDeviceInfo> { todo!() }
    pub fn boot(&mut self) -> Result<()> { Ok(()) }
    pub fn counters(&self) -> Result<HashMap<String, HashMap<&'static str, Wrapping<u64>>>> { todo!() }
}
`,
		"vmm/src/vm_config.rs": `
use std::path::PathBuf;
use arch::CpuProfile;
use net_util::MacAddr;
use virtio_devices::RateLimiterConfig;

pub const DEFAULT_QUEUE_SIZE: u16 = 256;
pub const DEFAULT_QUEUES: usize = DEFAULT_QUEUE_PAIRS as usize;
const DEFAULT_QUEUE_PAIRS: u8 = 0x2;

pub fn default_queue_size() -> u16 { DEFAULT_QUEUE_SIZE }
pub fn default_num_queues() -> usize { DEFAULT_QUEUES }
pub fn default_mac() -> MacAddr { MacAddr::local_random() }
fn default_tap() -> Option<String> { None }
pub fn default_firmware() -> PathBuf { PathBuf::from("/usr/share/fw.bin") }

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct PciDeviceCommonConfig {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "<&bool as std::ops::Not>::not")]
    pub iommu: bool,
    pub pci_segment: u16,
}

#[serde_with::skip_serializing_none]
#[derive(Deserialize, Serialize)]
pub struct NetConfig {
    #[serde(flatten)]
    pub pci_common: PciDeviceCommonConfig,
    #[serde(default = "default_tap")]
    pub tap: Option<String>,
    pub ip: Option<IpAddr>,
    #[serde(default = "default_mac")]
    pub mac: MacAddr,
    #[serde(default = "default_num_queues")]
    pub num_queues: usize,
    #[serde(default = "default_queue_size")]
    pub queue_size: u16,
    #[serde(default = "NetConfig::default_mtu")]
    pub mtu: u16,
    #[serde(default, deserialize_with = "deserialize_fds")]
    pub fds: Option<Vec<i32>>,
    #[serde(deserialize_with = "deserialize_fds")]
    pub fds_without_default: Option<Vec<i32>>,
    #[serde(rename = "rate_limiter", alias = "rl")]
    pub rate_limiter_config: Option<RateLimiterConfig>,
    #[serde(default)]
    pub vhost_mode: VhostMode,
    #[serde(skip)]
    pub migratable: Option<Arc<Mutex<dyn Migratable>>>,
    #[cfg(feature = "tdx")]
    #[serde(default)]
    pub tdx: bool,
}

impl NetConfig {
    pub const DEFAULT_MTU: u16 = 1500;
    fn default_mtu() -> u16 { Self::DEFAULT_MTU }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VhostMode {
    #[default]
    Client,
    Server,
}

#[derive(Deserialize, Serialize)]
#[serde(default)]
pub struct CpusConfig {
    pub boot_vcpus: u32,
    pub max_vcpus: u32,
    pub profile: CpuProfile,
}

impl Default for CpusConfig {
    fn default() -> Self {
        CpusConfig { boot_vcpus: 1, max_vcpus: DEFAULT_QUEUES as u32, profile: CpuProfile::default() }
    }
}

#[derive(Deserialize, Serialize)]
pub struct VmConfig {
    #[serde(default)]
    pub cpus: CpusConfig,
    pub net: Option<Vec<NetConfig>>,
    #[serde(alias = "rng-src")]
    pub rng_src: PathBuf,
    #[serde(default = "default_firmware")]
    pub firmware: PathBuf,
    pub r#type: Option<u8>,
}
`,
		"arch/src/lib.rs": `
#[cfg(target_arch = "x86_64")]
pub mod x86_64;

#[cfg(target_arch = "x86_64")]
pub use x86_64::{configure_vcpu, cpu_profile::CpuProfile};

#[cfg(not(target_arch = "x86_64"))]
#[derive(Debug, Default, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub enum CpuProfile {
    #[default]
    Host,
}
`,
		"arch/src/x86_64/mod.rs":             "pub mod cpu_profile;\npub fn configure_vcpu() {}\n",
		"arch/src/x86_64/cpu_profile/mod.rs": "#[derive(Default, serde::Serialize, serde::Deserialize)]\npub enum CpuProfile {\n    #[default]\n    Host,\n    Skylake,\n}\n",
		"net_util/src/lib.rs":                "mod mac;\npub use mac::MacAddr;\n",
		"net_util/src/mac.rs": `
pub const MAC_ADDR_LEN: usize = 6;
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacAddr {
    bytes: [u8; MAC_ADDR_LEN],
}
impl Serialize for MacAddr {
    fn serialize<S>(&self, s: S) -> Result<S::Ok, S::Error> where S: Serializer { self.to_string().serialize(s) }
}
impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D>(d: D) -> Result<MacAddr, D::Error> where D: Deserializer<'de> { todo!() }
}
`,
		"virtio-devices/src/lib.rs": `
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct TokenBucketConfig {
    pub size: u64,
    pub one_time_burst: Option<u64>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateLimiterConfig {
    pub bandwidth: Option<TokenBucketConfig>,
}
`,
	}
}

func typeByName(t *testing.T, f *chFacts, name string) *typeFact {
	t.Helper()
	defs := f.typesNamed(name)
	require.Len(t, defs, 1, "definitions of %s", name)
	return defs[0]
}

func fieldByName(t *testing.T, tf *typeFact, rust string) fieldFact {
	t.Helper()
	for _, fld := range tf.Fields {
		if fld.Rust == rust {
			return fld
		}
	}
	t.Fatalf("%s has no field %s", tf.Name, rust)
	return fieldFact{}
}

func TestExtractFactsRoutes(t *testing.T) {
	f, err := extractFacts("v90.0", "abc", miniCH())
	require.NoError(t, err)
	assert.Equal(t, []routeFact{
		{Path: "/vm.add-net", Methods: []string{"PUT"}, Handler: "VmActionHandler", Action: "VmAddNet", Body: "json", Request: "NetConfig", Response: "PciDeviceInfo"},
		{Path: "/vm.boot", Methods: []string{"PUT"}, Handler: "VmActionHandler", Action: "VmBoot", Body: "none"},
		{Path: "/vm.coredump", Methods: []string{"PUT"}, Handler: "VmActionHandler", Action: "VmCoredump", Body: "json", Request: "VmCoredumpData",
			Cfg: `all(target_arch = "x86_64", feature = "guest_debug")`, Features: []string{"guest_debug"}},
		{Path: "/vm.counters", Methods: []string{"GET"}, Handler: "VmActionHandler", Action: "VmCounters", Response: "HashMap<String, HashMap<&'static str, Wrapping<u64>>>"},
		{Path: "/vm.create", Methods: []string{"PUT"}, Handler: "VmCreate", Action: "VmCreate", Body: "json", Request: "VmConfig"},
		{Path: "/vm.info", Methods: []string{"GET"}, Handler: "VmInfo", Action: "VmInfo", Response: "VmInfoResponse"},
	}, f.Routes)
}

func TestExtractFactsTypes(t *testing.T) {
	f, err := extractFacts("v90.0", "abc", miniCH())
	require.NoError(t, err)
	var names []string
	for _, tf := range f.Types {
		names = append(names, tf.Name+" "+tf.File)
	}
	assert.Equal(t, []string{
		"CpuProfile arch/src/lib.rs", "CpuProfile arch/src/x86_64/cpu_profile/mod.rs",
		"CpusConfig vmm/src/vm_config.rs", "MacAddr net_util/src/mac.rs", "NetConfig vmm/src/vm_config.rs",
		"PciDeviceCommonConfig vmm/src/vm_config.rs", "PciDeviceInfo vmm/src/lib.rs",
		"RateLimiterConfig virtio-devices/src/lib.rs", "TokenBucketConfig virtio-devices/src/lib.rs",
		"VhostMode vmm/src/vm_config.rs", "VmConfig vmm/src/vm_config.rs", "VmCoredumpData vmm/src/api/mod.rs",
		"VmInfoResponse vmm/src/api/mod.rs", "VmState vmm/src/vm.rs",
	}, names, "test-only and fuzz types are no API types")
	assert.Equal(t, []string{"HashMap", "IpAddr", "PciBdf", "Wrapping", "std::path::PathBuf"}, f.External, "no use declaration names HashMap in vm.rs")

	vm := typeByName(t, f, "VmConfig")
	assert.Equal(t, []string{"request", "response"}, vm.UsedIn)
	assert.Equal(t, fieldFact{Rust: "cpus", JSON: "cpus", Type: "CpusConfig", Default: &defaultFact{Source: "field", Fn: "CpusConfig::default"}}, fieldByName(t, vm, "cpus"))
	assert.Equal(t, fieldFact{Rust: "net", JSON: "net", Type: "Option<Vec<NetConfig>>", Option: true}, fieldByName(t, vm, "net"))
	assert.Equal(t, fieldFact{Rust: "rng_src", JSON: "rng_src", Aliases: []string{"rng-src"}, Type: "PathBuf", Required: true}, fieldByName(t, vm, "rng_src"))
	assert.Equal(t, `"/usr/share/fw.bin"`, string(fieldByName(t, vm, "firmware").Default.Value), "through PathBuf::from")
	assert.Equal(t, "type", fieldByName(t, vm, "type").JSON, "a raw identifier")

	net := typeByName(t, f, "NetConfig")
	assert.True(t, net.SkipSerializingNone)
	pci := fieldByName(t, net, "pci_common")
	assert.True(t, pci.Flatten)
	assert.Equal(t, "", pci.JSON, "a flattened field is no member")
	assert.False(t, pci.Required)
	assert.Equal(t, &defaultFact{Source: "fn", Fn: "default_tap", Value: json.RawMessage("null")}, fieldByName(t, net, "tap").Default)
	assert.Equal(t, &defaultFact{Source: "fn", Fn: "default_mac"}, fieldByName(t, net, "mac").Default, "a call is not evaluated")
	assert.Equal(t, &defaultFact{Source: "fn", Fn: "default_num_queues", Value: json.RawMessage("2"), Via: []string{"DEFAULT_QUEUES", "DEFAULT_QUEUE_PAIRS"}},
		fieldByName(t, net, "num_queues").Default, "constants followed through a cast and a hex literal")
	assert.Equal(t, &defaultFact{Source: "fn", Fn: "default_queue_size", Value: json.RawMessage("256"), Via: []string{"DEFAULT_QUEUE_SIZE"}}, fieldByName(t, net, "queue_size").Default)
	assert.Equal(t, &defaultFact{Source: "fn", Fn: "NetConfig::default_mtu", Value: json.RawMessage("1500"), Via: []string{"Self::DEFAULT_MTU"}}, fieldByName(t, net, "mtu").Default)
	assert.False(t, fieldByName(t, net, "fds").Required)
	assert.True(t, fieldByName(t, net, "fds_without_default").Required, "an Option read by deserialize_with has no implicit None")
	rl := fieldByName(t, net, "rate_limiter_config")
	assert.Equal(t, "rate_limiter", rl.JSON)
	assert.Equal(t, []string{"rl"}, rl.Aliases)
	assert.Equal(t, `"client"`, string(fieldByName(t, net, "vhost_mode").Default.Value), "the #[default] variant, renamed")
	assert.Equal(t, "skip", fieldByName(t, net, "migratable").Skip)
	tdx := fieldByName(t, net, "tdx")
	assert.Equal(t, `feature = "tdx"`, tdx.Cfg)
	assert.Equal(t, []string{"tdx"}, tdx.Features)

	common := typeByName(t, f, "PciDeviceCommonConfig")
	assert.Equal(t, "<&bool as std::ops::Not>::not", fieldByName(t, common, "iommu").SkipSerializingIf)
	assert.True(t, fieldByName(t, common, "pci_segment").Required)

	cpus := typeByName(t, f, "CpusConfig")
	assert.Equal(t, "Default::default", cpus.Default)
	assert.Equal(t, "impl", cpus.DefaultImpl)
	assert.Equal(t, &defaultFact{Source: "container", Fn: "CpusConfig::default", Value: json.RawMessage("1")}, fieldByName(t, cpus, "boot_vcpus").Default)
	assert.Equal(t, &defaultFact{Source: "container", Fn: "CpusConfig::default", Value: json.RawMessage("2"), Via: []string{"DEFAULT_QUEUES", "DEFAULT_QUEUE_PAIRS"}}, fieldByName(t, cpus, "max_vcpus").Default)
	assert.False(t, fieldByName(t, cpus, "profile").Required)

	profiles := f.typesNamed("CpuProfile")
	require.Len(t, profiles, 2)
	assert.Equal(t, `not(target_arch = "x86_64")`, profiles[0].Cfg)
	assert.Equal(t, `target_arch = "x86_64"`, profiles[1].Cfg, "the gate of the module and of the re-export")
	assert.Len(t, profiles[1].Variants, 2)

	mac := typeByName(t, f, "MacAddr")
	assert.True(t, mac.CustomSerialize)
	assert.True(t, mac.CustomDeserialize)
	assert.Equal(t, "", mac.Fields[0].JSON, "hand-written serde: the fields are no members")

	info := typeByName(t, f, "PciDeviceInfo")
	assert.Equal(t, []string{"response"}, info.UsedIn)
	assert.Equal(t, []string{"id", "bdf"}, info.SerializeFields)

	state := typeByName(t, f, "VmState")
	assert.Equal(t, []variantFact{
		{Rust: "Created", JSON: "created", Form: "unit"},
		{Rust: "Running", JSON: "running", Form: "unit"},
		{Rust: "Shutdown", JSON: "shutdown", Aliases: []string{"stopped"}, Form: "unit"},
		{Rust: "BreakPoint", JSON: "break_point", Form: "unit", Skip: "skip"},
	}, state.Variants)

	assert.True(t, typeByName(t, f, "RateLimiterConfig").DenyUnknownFields)
	assert.Equal(t, []string{"request", "response"}, typeByName(t, f, "TokenBucketConfig").UsedIn)
	assert.Equal(t, []string{"request"}, typeByName(t, f, "VmCoredumpData").UsedIn)
}

func TestExtractFactsIsDeterministic(t *testing.T) {
	a, err := extractFacts("v90.0", "abc", miniCH())
	require.NoError(t, err)
	b, err := extractFacts("v90.0", "abc", miniCH())
	require.NoError(t, err)
	ab, err := a.bytes()
	require.NoError(t, err)
	bb, err := b.bytes()
	require.NoError(t, err)
	assert.Equal(t, string(ab), string(bb))
	assert.True(t, strings.HasSuffix(string(ab), "}\n"))
}

func TestExtractFactsErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(memTree)
		want string
	}{
		"no crates": {func(tr memTree) {
			for p := range tr {
				if strings.HasSuffix(p, "Cargo.toml") {
					delete(tr, p)
				}
			}
		}, "no Cargo.toml with a [package] name"},
		"no routes file": {func(tr memTree) { delete(tr, httpRoutesFile) }, "the server's routes: vmm/src/api/http/mod.rs was not read"},
		"no routes":      {func(tr memTree) { tr[httpRoutesFile] = "pub mod http_endpoint;\n" }, "no endpoint!(…) route inserts"},
		"unknown handler": {func(tr memTree) {
			tr[httpRoutesFile] += `fn more() { r.routes.insert(endpoint!("/vm.x"), Box::new(Special {})); }`
		}, "route /vm.x: no EndpointHandler impl for Special"},
		"unknown action": {func(tr memTree) {
			tr[httpRoutesFile] += `fn more() { r.routes.insert(endpoint!("/vm.x"), Box::new(VmActionHandler::new(&VmX))); }`
		}, "route /vm.x: action VmX has no GET handler impl"},
		"no api action": {func(tr memTree) {
			tr["vmm/src/api/mod.rs"] = strings.Replace(tr["vmm/src/api/mod.rs"], "impl ApiAction for VmBoot", "impl Other for VmBoot", 1)
		}, `route /vm.boot: no ApiAction impl for "VmBoot"`},
		"handler not boxed": {func(tr memTree) {
			tr[httpRoutesFile] += `fn more() { r.routes.insert(endpoint!("/vm.x"), handler); }`
		}, "the handler of /vm.x is not Box::new(…)"},
		"routed twice": {func(tr memTree) {
			tr[httpRoutesFile] += `fn more() { r.routes.insert(endpoint!("/vm.boot"), Box::new(VmActionHandler::new(&VmBoot))); }`
		}, "routes /vm.boot twice"},
		"ambiguous type": {func(tr memTree) {
			tr["vmm/src/vm_config.rs"] = strings.Replace(tr["vmm/src/vm_config.rs"], "use virtio_devices::RateLimiterConfig;", "", 1)
			tr["arch/src/lib.rs"] += "#[derive(Deserialize)] pub struct RateLimiterConfig { a: u8 }\n"
		}, "RateLimiterConfig is defined in arch/src/lib.rs, virtio-devices/src/lib.rs"},
		"broken rust": {func(tr memTree) { tr["vmm/src/vm.rs"] += "struct Broken {" }, "vmm/src/vm.rs: line"},
	} {
		t.Run(name, func(t *testing.T) {
			tree := miniCH()
			tc.edit(tree)
			_, err := extractFacts("v90.0", "abc", tree)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestCargoPackageName(t *testing.T) {
	assert.Equal(t, "vmm", cargoPackageName("[package]\nauthors = [\"a\"]\nname = \"vmm\"\n[dependencies]\n"))
	assert.Equal(t, "", cargoPackageName("[workspace]\nname = \"x\"\n"))
	assert.Equal(t, "", cargoPackageName("[dependencies]\nname = \"x\"\n[package]\nversion = \"1\"\n"))
}

func TestJSONNumber(t *testing.T) {
	for in, want := range map[string]string{"46": "46", "46u8": "46", "0x3f8": "1016", "0xffu8": "255", "1_000_usize": "1000",
		"1.5f64": "1.5", "2e3": "2000", "0b101": "5", "0o17": "15", "18446744073709551615u64": "18446744073709551615"} {
		got, ok := jsonNumber(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	_, ok := jsonNumber("0xzz")
	assert.False(t, ok)
}
