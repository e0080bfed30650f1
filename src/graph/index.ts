// The graph executor: build a Graph, compile it per input shape into Plans (compileGraph) or let a
// GraphExecutor compile and cache them.
export { Graph, GraphError, inputsOf, constantShape, type GraphNode, type NodeDef, type GraphConvOptions, type HostConstant, type ConstantValue } from './graph.js';
export { inferShapes, checkInputShapes, type InputShapes, type ShapeMap } from './shapes.js';
export { rewriteForInference, NO_REWRITES, type RewriteCounts, type RewriteOptions, type RewrittenGraph } from './rewrite.js';
export { foldBatchNorm, foldBatchNormOnHost, type BatchNormParams, type Folded } from './fold.js';
export { compileGraph, uploadHostConstants, Plan, type CompileOptions } from './plan.js';
export { GraphExecutor, type HostInput } from './executor.js';
