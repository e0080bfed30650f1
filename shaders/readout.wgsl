// Readout: one vector per graph from the features of its nodes (src/ops/sparse.ts, readout), PyTorch
// Geometric's global_{add,mean,max}_pool. x [nodes, F]; the graphs' nodes are grouped as a CSR
// without values: graph g holds node_ids[graph_ptr[g] .. graph_ptr[g + 1]); batch [nodes] maps each node back to
// its graph (for the backward pass). An empty graph reads out 0; max propagates NaN.
// Backward (gather, no atomics): sum copies grad_out[g] to each node of g, mean divides it by g's
// node count, max splits it evenly among the nodes equal to the maximum (torch.amax's rule; a NaN
// maximum gives every node of the graph NaN for that feature).
// Defines: WG (invocations per workgroup), LANES (invocations side by side over one graph's feature
// columns; divides WG), REDUCE (0 sum, 1 mean, 2 max).
// Entry points (the *4 ones read features as vec4: F % 4 == 0, width = F / 4):
//   readout, readout4         one workgroup per WG / LANES graphs, lanes over features
//   backward, backward4       sum and mean: one invocation per (node, column)
//   max_scale, max_scale4     per (graph, column): grad_out / (the number of nodes at the maximum)
//   max_backward, max_backward4  per (node, column): that share where x is the maximum, else 0
//! include lib/grid
//! include lib/float_bits

struct Params {
  graphs: u32,
  nodes: u32,
  width: u32, // F, or F / 4
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> graph_ptr: array<u32>;
@group(0) @binding(2) var<storage, read> node_ids: array<u32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read> maxv: array<f32>;
@group(0) @binding(6) var<storage, read> aux: array<f32>; // grad_out (max_scale) or the shares (max_backward)
@group(0) @binding(3) var<storage, read> x4: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> out4: array<vec4f>;
@group(0) @binding(5) var<storage, read> maxv4: array<vec4f>;
@group(0) @binding(6) var<storage, read> aux4: array<vec4f>;
// backward and max_backward read the node -> graph index at binding 1; backward reads ptr at 2
// and grad_out at 3.
@group(0) @binding(1) var<storage, read> batch: array<u32>;
@group(0) @binding(3) var<storage, read> grad_out: array<f32>;
@group(0) @binding(3) var<storage, read> grad_out4: array<vec4f>;
@group(0) @binding(2) var<storage, read> count_ptr: array<u32>; // ptr again, for backward's counts

fn is_nan4(v: vec4f) -> vec4<bool> { return (bitcast<vec4u>(v) & vec4u(0x7fffffffu)) > vec4u(0x7f800000u); }


// Graph g's entries in node_ids as [start, end), or start > end when not inside [0, nodes].
fn graph_range(g: u32) -> vec2u {
  let start = graph_ptr[g];
  let end = graph_ptr[g + 1u];
  if (start > end || end > p.nodes) { return vec2u(1u, 0u); }
  return vec2u(start, end);
}

@compute @workgroup_size(WG)
fn readout(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = workgroup_index(wid, nwg) * (WG / LANES) + lid / LANES;
  if (g >= p.graphs) { return; }
  let range = graph_range(g);
  for (var j = lid % LANES; j < p.width; j += LANES) {
    var acc = select(0.0, neg_inf(), REDUCE == 2u);
    var bad = range.x > range.y;
    for (var k = range.x; k < range.y; k++) {
      let n = node_ids[k];
      bad = bad || n >= p.nodes;
      let v = x[min(n, p.nodes - 1u) * p.width + j];
      if (REDUCE == 2u) {
        acc = select(acc, v, v > acc || is_nan(v)); // once NaN, v > NaN never holds
      } else {
        acc += v;
      }
    }
    let count = f32(max(range.y, range.x) - range.x);
    if (range.y <= range.x) { acc = 0.0; } else if (REDUCE == 1u) { acc /= count; }
    out[g * p.width + j] = select(acc, nan(), bad);
  }
}

@compute @workgroup_size(WG)
fn readout4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = workgroup_index(wid, nwg) * (WG / LANES) + lid / LANES;
  if (g >= p.graphs) { return; }
  let range = graph_range(g);
  for (var j = lid % LANES; j < p.width; j += LANES) {
    var acc = vec4f(select(0.0, neg_inf(), REDUCE == 2u));
    var bad = range.x > range.y;
    for (var k = range.x; k < range.y; k++) {
      let n = node_ids[k];
      bad = bad || n >= p.nodes;
      let v = x4[min(n, p.nodes - 1u) * p.width + j];
      if (REDUCE == 2u) {
        acc = select(acc, v, (v > acc) | is_nan4(v));
      } else {
        acc += v;
      }
    }
    let count = f32(max(range.y, range.x) - range.x);
    if (range.y <= range.x) { acc = vec4f(0.0); } else if (REDUCE == 1u) { acc /= count; }
    out4[g * p.width + j] = select(acc, vec4f(nan()), bad);
  }
}

struct NodeGraph {
  g: u32,
  scale: f32,
}

// The graph of node i, and what its gradient is multiplied by (1 / the node count for a mean);
// a NaN scale for a node assigned to no graph.
fn node_graph(i: u32) -> NodeGraph {
  let g = batch[i];
  if (g >= p.graphs) { return NodeGraph(0u, nan()); }
  let count = f32(count_ptr[g + 1u] - count_ptr[g]);
  return NodeGraph(g, select(1.0, 1.0 / count, REDUCE == 1u));
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = workgroup_index(wid, nwg) * WG + lid;
  if (e >= p.nodes * p.width) { return; }
  let i = e / p.width;
  let ng = node_graph(i);
  out[e] = grad_out[ng.g * p.width + (e - i * p.width)] * ng.scale;
}

@compute @workgroup_size(WG)
fn backward4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = workgroup_index(wid, nwg) * WG + lid;
  if (e >= p.nodes * p.width) { return; }
  let i = e / p.width;
  let ng = node_graph(i);
  out4[e] = grad_out4[ng.g * p.width + (e - i * p.width)] * ng.scale;
}

@compute @workgroup_size(WG)
fn max_scale(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = workgroup_index(wid, nwg) * (WG / LANES) + lid / LANES;
  if (g >= p.graphs) { return; }
  let range = graph_range(g);
  for (var j = lid % LANES; j < p.width; j += LANES) {
    let m = maxv[g * p.width + j];
    var ties = 0.0;
    for (var k = range.x; k < range.y; k++) {
      ties += select(0.0, 1.0, x[min(node_ids[k], p.nodes - 1u) * p.width + j] == m);
    }
    out[g * p.width + j] = aux[g * p.width + j] / ties; // no ties: the maximum is NaN (see max_backward)
  }
}

@compute @workgroup_size(WG)
fn max_scale4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = workgroup_index(wid, nwg) * (WG / LANES) + lid / LANES;
  if (g >= p.graphs) { return; }
  let range = graph_range(g);
  for (var j = lid % LANES; j < p.width; j += LANES) {
    let m = maxv4[g * p.width + j];
    var ties = vec4f(0.0);
    for (var k = range.x; k < range.y; k++) {
      ties += select(vec4f(0.0), vec4f(1.0), x4[min(node_ids[k], p.nodes - 1u) * p.width + j] == m);
    }
    out4[g * p.width + j] = aux4[g * p.width + j] / ties;
  }
}

@compute @workgroup_size(WG)
fn max_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = workgroup_index(wid, nwg) * WG + lid;
  if (e >= p.nodes * p.width) { return; }
  let i = e / p.width;
  let g = batch[i];
  let o = min(g, p.graphs - 1u) * p.width + (e - i * p.width);
  let m = maxv[o];
  let v = x[e];
  out[e] = select(select(0.0, aux[o], v == m), nan(), is_nan(m) || g >= p.graphs);
}

@compute @workgroup_size(WG)
fn max_backward4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = workgroup_index(wid, nwg) * WG + lid;
  if (e >= p.nodes * p.width) { return; }
  let i = e / p.width;
  let g = batch[i];
  let o = min(g, p.graphs - 1u) * p.width + (e - i * p.width);
  let m = maxv4[o];
  let v = x4[e];
  let grad = select(select(vec4f(0.0), aux4[o], v == m), vec4f(nan()), is_nan4(m));
  out4[e] = select(grad, vec4f(nan()), g >= p.graphs);
}
