// The gcn command's defaults and help (src/cli/help.ts formats it), apart from the training code so
// that main.ts loads the models only when the command runs.
import type { CommandHelp } from './help.js';

export const GCN_DATASETS = ['karate', 'sbm', 'atlas'] as const;
export const ATLAS_LABELS = ['hasBridge', 'connected', 'hasCycle'] as const;
export const READOUTS = ['sum', 'mean', 'max'] as const;

/** Per kind of task; each run takes seconds to a minute on 2 CPU cores with lavapipe. */
export const GCN_DEFAULTS = {
  // Kipf & Welling's settings (hidden 16, dropout 0.5, lr 0.01, weight decay 5e-4); the karate
  // club converges in about 50 epochs from two labelled nodes.
  node: { epochs: 100, lr: 0.01, weightDecay: 5e-4, hidden: 16, dropout: 0.5 },
  graph: { epochs: 50, lr: 0.01, weightDecay: 0, hidden: 32, layers: 3, readout: 'sum' as const },
  karateSeeds: 10,
  seed: 0,
  /** Labelled nodes per class for sbm and Planetoid data (Planetoid's split uses 20). */
  labelsPerClass: 20,
  /** The atlas's held-out fraction. */
  testFraction: 0.2,
  atlasLabel: 'hasBridge' as const,
  sbm: { nodes: 2000, edges: 8000, communities: 4, features: 16, noise: 3 },
  outDir: 'runs',
  logEvery: 1,
};

export const GCN_HELP: CommandHelp = {
  name: 'gcn',
  summary: 'graph convolutional networks on the GPU: karate club, SBM graphs, the graph atlas, Cora',
  synopsis: ['gcn [--dataset karate|sbm|atlas|PATH] [options]'],
  description:
    'Trains a graph convolutional network (PyTorch Geometric\'s GCNConv: D^-1/2 (A + I) D^-1/2 X W + b, sparse on the GPU) ' +
    'full-batch with Adam, printing the loss and accuracy per epoch and the final accuracy.\n' +
    'karate: Zachary\'s karate club, semi-supervised from one labelled member per faction (0 and 33) as in Kipf & Welling; ' +
    `a 2-layer GCN trained from ${GCN_DEFAULTS.karateSeeds} seeds, accuracy on the 32 unlabelled members per seed and averaged. ` +
    'Writes DIR/gcn-karate-graph.png (the club drawn by a force layout, coloured by true and by predicted faction), ' +
    'DIR/gcn-karate-embedding.png (the hidden layer, projected to 2-D) and DIR/gcn-karate-curves.png.\n' +
    `sbm: a seeded stochastic-block-model graph (${GCN_DEFAULTS.sbm.nodes} nodes, ${GCN_DEFAULTS.sbm.edges} edges, ` +
    `${GCN_DEFAULTS.sbm.communities} communities, noisy community features), ${GCN_DEFAULTS.labelsPerClass} labelled nodes per community.\n` +
    'atlas: graph classification of networkx\'s graph atlas (1,252 graphs of up to 7 nodes, one-hot degree features) by a structural ' +
    'property, GCN layers + readout + Linear, on a seeded train/test split; prints test accuracy beside the majority class\'s share.\n' +
    `PATH: a Planetoid dataset in the LINQS text format (a directory holding <name>.content and <name>.cites, or their stem, e.g. data/cora), ` +
    `features normalised per row, ${GCN_DEFAULTS.labelsPerClass} labelled nodes per class, tested on the rest.`,
  options: [
    { name: 'dataset', value: 'karate|sbm|atlas|PATH', text: 'what to train on (default karate)' },
    { name: 'epochs', value: 'N', text: `full-batch epochs (default ${GCN_DEFAULTS.node.epochs} for node classification, ${GCN_DEFAULTS.graph.epochs} for the atlas)` },
    { name: 'lr', value: 'X', text: `Adam's learning rate (default ${GCN_DEFAULTS.node.lr})` },
    { name: 'weight-decay', value: 'X', text: `Adam's L2 penalty (default ${GCN_DEFAULTS.node.weightDecay} for node classification, 0 for the atlas)` },
    { name: 'hidden', value: 'N', text: `hidden channels (default ${GCN_DEFAULTS.node.hidden}; ${GCN_DEFAULTS.graph.hidden} for the atlas)` },
    { name: 'dropout', value: 'X', text: `dropout before each GCN layer, node classification (default ${GCN_DEFAULTS.node.dropout}; 0 for none)` },
    { name: 'seeds', value: 'N', text: `independent runs (seeds seed .. seed + N - 1), accuracy averaged (default ${GCN_DEFAULTS.karateSeeds} for karate, else 1)` },
    { name: 'seed', value: 'N', text: `the first seed: weights, dropout, splits and the SBM graph (default ${GCN_DEFAULTS.seed})` },
    { name: 'label', value: ATLAS_LABELS.join('|'), text: `the atlas property to predict (default ${GCN_DEFAULTS.atlasLabel})` },
    { name: 'layers', value: 'N', text: `GCN layers of the atlas model (default ${GCN_DEFAULTS.graph.layers})` },
    { name: 'readout', value: READOUTS.join('|'), text: `how the atlas model pools a graph's nodes (default ${GCN_DEFAULTS.graph.readout})` },
    { name: 'out', value: 'DIR', text: `where the figures go (default ${GCN_DEFAULTS.outDir})` },
    { name: 'log-every', value: 'N', text: `print every Nth epoch of the first seed (default ${GCN_DEFAULTS.logEvery}: all; the last is always printed)` },
  ],
};
