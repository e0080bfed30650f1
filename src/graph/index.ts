// The graph executor: build a Graph, compile it per input shape into Plans (compileGraph) or let a
// GraphExecutor compile and cache them.
export { Graph, GraphError, inputsOf, type GraphNode, type NodeDef, type GraphConvOptions } from './graph.js';
export { inferShapes, checkInputShapes, type InputShapes, type ShapeMap } from './shapes.js';
export { rewriteForInference, type RewriteCounts, type RewrittenGraph } from './rewrite.js';
export { foldBatchNorm, type BatchNormParams } from './fold.js';
export { compileGraph, Plan, type CompileOptions } from './plan.js';
export { GraphExecutor, type HostInput } from './executor.js';
