// Where an invocation is in a one-dimensional grid that the host may fold into two dimensions
// (engine.grid1d: a grid over the per-dimension workgroup limit becomes rows of nwg.x
// workgroups). Requires WG, the workgroup size, from the including shader.

// The invocation's index in the grid (one invocation per item).
fn linear_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

// The workgroup's index in the grid (one workgroup per item).
fn workgroup_index(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.y * nwg.x + wid.x;
}
