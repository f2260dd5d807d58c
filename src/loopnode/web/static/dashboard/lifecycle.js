import { debounce, onLive } from "./common.js";
import { LIFECYCLE, refreshBoard } from "./board.js";

const refresh = debounce(refreshBoard, 300);
onLive((entry, type) => { if (LIFECYCLE.test(type)) refresh(); });
refreshBoard();
